import { runService } from '@platform/shared';
import { startRecommendationsSubgraph } from './index.ts';

runService('recommendations', () => startRecommendationsSubgraph());
