import type { Viewer } from '@platform/shared';

export interface GatewayContext {
  requestId: string;
  /** the verified caller, or null when anonymous */
  viewer: Viewer | null;
  /** forwarded verbatim so each subgraph can verify the token itself */
  authorization: string | undefined;
  /** the caller's address, forwarded as x-forwarded-for so subgraphs can rate-limit per client */
  clientAddress: string | undefined;
}
