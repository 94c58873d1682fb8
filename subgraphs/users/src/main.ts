import { runService } from '@platform/shared';
import { startUsersSubgraph } from './index.ts';

runService('users', () => startUsersSubgraph());
