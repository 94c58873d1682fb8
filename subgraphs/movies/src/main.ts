import { runService } from '@platform/shared';
import { startMoviesSubgraph } from './index.ts';

runService('movies', () => startMoviesSubgraph());
