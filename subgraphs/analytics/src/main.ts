import { runService } from '@platform/shared';
import { startAnalyticsSubgraph } from './index.ts';

runService('analytics', () => startAnalyticsSubgraph());
