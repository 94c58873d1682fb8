// The gateway's GraphQL explorer: GraphiQL's prebuilt browser build (served by the gateway from
// node_modules, so the page loads nothing from the internet) with a fetcher that sends queries
// and mutations over HTTP and subscriptions over graphql-ws, both to the same /graphql URL.
//
// The headers from GraphiQL's headers editor apply to both transports: as HTTP headers, and as
// the WebSocket's connection_init payload `{ authorization }` (a browser cannot set headers on a
// WebSocket handshake). The socket authenticates once, when it opens, so a different
// Authorization header closes it and the next subscription opens a new one with the new token.
//
// Plain browser JavaScript on purpose: it runs as served, with no build step.
/* global React, ReactDOM, GraphiQL, graphqlWs */
(function startExplorer() {
  'use strict';

  const endpointPath = document.querySelector('meta[name="graphql-endpoint"]').getAttribute('content');
  const httpEndpoint = new URL(endpointPath, window.location.href);
  const wsEndpoint = new URL(httpEndpoint);
  wsEndpoint.protocol = httpEndpoint.protocol === 'https:' ? 'wss:' : 'ws:';

  /** The value of the Authorization header (any case), or undefined when blank or absent. */
  function authorizationOf(headers) {
    for (const [name, value] of Object.entries(headers || {})) {
      if (name.toLowerCase() === 'authorization' && typeof value === 'string' && value.trim() !== '') return value.trim();
    }
    return undefined;
  }

  /** Headers to send over HTTP: the editor's, minus a blank Authorization (the template's empty one). */
  function httpHeadersOf(headers) {
    const result = {};
    for (const [name, value] of Object.entries(headers || {})) {
      if (name.toLowerCase() === 'authorization' && authorizationOf({ [name]: value }) === undefined) continue;
      result[name] = String(value);
    }
    return result;
  }

  /** 'query', 'mutation' or 'subscription': the operation GraphiQL is about to run. */
  function operationTypeOf(documentAST, operationName) {
    const operations = ((documentAST && documentAST.definitions) || []).filter((definition) => definition.kind === 'OperationDefinition');
    const chosen = operationName ? operations.find((operation) => operation.name && operation.name.value === operationName) : operations[0];
    return chosen ? chosen.operation : 'query';
  }

  // GraphiQL's introspection query nests its TypeRef fragment nine `ofType` levels deep (15
  // levels in all), past the gateway's operation depth limit of 12 (shared/src/operation-limits.ts),
  // so the schema would never load. Six levels describe any type up to [[T!]!]!, deeper than any
  // in this schema, and keep the query at 12. TypeRef is the query's last fragment (graphql-js).
  const shallowTypeRef =
    'fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }';

  function withinDepthLimit(params) {
    const typeRefAt = params.query.indexOf('fragment TypeRef on __Type');
    if (params.operationName !== 'IntrospectionQuery' || typeRefAt < 0) return params;
    return { ...params, query: params.query.slice(0, typeRefAt) + shallowTypeRef };
  }

  async function overHttp(params, headers) {
    const response = await fetch(httpEndpoint, {
      method: 'POST',
      // application/json makes this a non-simple request, which Apollo's CSRF prevention wants.
      headers: { accept: 'application/graphql-response+json, application/json', 'content-type': 'application/json', ...httpHeadersOf(headers) },
      body: JSON.stringify(params),
    });
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      return { errors: [{ message: `HTTP ${response.status} ${response.statusText}: ${text.slice(0, 500)}` }] };
    }
  }

  /** One graphql-ws client at a time, for the Authorization it was opened with. */
  let socket = null;

  function wsClientFor(authorization) {
    if (socket && socket.authorization === authorization) return socket.client;
    // Disposing closes the old socket; subscriptions still running on it end.
    if (socket) socket.client.dispose();
    const client = graphqlWs.createClient({
      url: wsEndpoint.toString(),
      connectionParams: authorization ? { authorization } : {},
      // Open on the first subscription, close after the last: a socket that reopens later sends
      // the (possibly refreshed) token again.
      lazy: true,
      retryAttempts: 2,
    });
    socket = { authorization, client };
    return client;
  }

  /** graphql-ws reports a closed socket as a CloseEvent, a server `error` message as GraphQL errors. */
  function errorsOf(error) {
    if (Array.isArray(error)) return error;
    if (error && typeof error.code === 'number') {
      return [{ message: `WebSocket closed: ${error.code}${error.reason ? ` ${error.reason}` : ''}`, extensions: { closeCode: error.code } }];
    }
    return [{ message: error instanceof Error ? error.message : `WebSocket error (is the gateway reachable at ${wsEndpoint}?)` }];
  }

  /** An Observable as GraphiQL expects one; its stop button calls unsubscribe. */
  function overWebSocket(params, headers) {
    return {
      subscribe(observer) {
        const stop = wsClientFor(authorizationOf(headers)).subscribe(params, {
          next: (result) => observer.next(result),
          error: (error) => {
            observer.next({ errors: errorsOf(error) });
            observer.complete();
          },
          complete: () => observer.complete(),
        });
        return { unsubscribe: stop };
      },
    };
  }

  function fetcher(graphQLParams, options) {
    const params = { query: graphQLParams.query, variables: graphQLParams.variables, operationName: graphQLParams.operationName || undefined };
    const headers = (options && options.headers) || {};
    if (operationTypeOf(options && options.documentAST, graphQLParams.operationName) === 'subscription') return overWebSocket(params, headers);
    return overHttp(withinDepthLimit(params), headers);
  }

  const defaultQuery = `# Movie platform GraphQL explorer
#
# 1. Sign in with the SignIn mutation (or \`register\` a new account).
# 2. Put its accessToken into the Headers tab below:
#      { "Authorization": "Bearer <accessToken>" }
# 3. Run Me, or LiveRecommendations and like a movie (reactToMovie) from another tab.
#
# Queries and mutations go over HTTP; subscriptions over a WebSocket on this same URL, which
# sends the Authorization header in its connection_init (a changed header opens a new socket).

mutation SignIn {
  login(username: "alice", password: "correct horse battery") {
    accessToken
    user { id username }
  }
}

query Me {
  me { id username displayName favoriteGenres }
}

subscription LiveRecommendations {
  recommendationsUpdated(first: 5) {
    reason
    at
    recommendations { score movie { id title } }
  }
}
`;

  const container = document.getElementById('graphiql');
  container.textContent = '';
  ReactDOM.createRoot(container).render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultQuery,
      defaultHeaders: '{\n  "Authorization": ""\n}',
      defaultEditorToolsVisibility: 'headers',
      // Access tokens are bearer credentials: keep them out of localStorage.
      shouldPersistHeaders: false,
    }),
  );
})();
