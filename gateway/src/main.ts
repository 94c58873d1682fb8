import { runService } from '@platform/shared';
import { startGateway } from './index.ts';

runService('gateway', () => startGateway());
