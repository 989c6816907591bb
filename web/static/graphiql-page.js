// Herald's GraphiQL: every request carries the API token kept in localStorage (shared with
// the dashboard) as `Authorization: Bearer …`; subscriptions go over graphql-transport-ws
// with the token in the connection_init payload.
(function () {
  "use strict";
  var TOKEN_KEY = "herald.token";
  var url = location.origin + "/query";
  var wsURL = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/query";

  var input = document.getElementById("token");
  var state = document.getElementById("token-state");
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  var wsClient = null;

  function token() { return localStorage.getItem(TOKEN_KEY) || ""; }

  function fetcher() {
    if (wsClient) wsClient.dispose();
    var t = token();
    wsClient = graphqlWs.createClient({
      url: wsURL,
      connectionParams: function () { return t ? { Authorization: "Bearer " + t } : {}; },
      // 4403: the token was refused; retrying cannot help.
      shouldRetry: function (e) { return !(e && e.code === 4403); },
    });
    return GraphiQL.createFetcher({
      url: url,
      wsClient: wsClient,
      headers: t ? { Authorization: "Bearer " + t } : {},
    });
  }

  function render() {
    var params = new URLSearchParams(location.search);
    state.textContent = token() ? "token set" : "no token";
    var props = {
      key: token(), // a new token means a new fetcher and a fresh schema
      fetcher: fetcher(),
      defaultQuery: "# Set your API token above; run with Ctrl-Enter.\n{\n  me {\n    name\n    role\n  }\n}\n",
      defaultEditorToolsVisibility: false,
    };
    if (params.get("query")) props.query = params.get("query"); // /?query=… opens with that operation
    root.render(React.createElement(GraphiQL, props));
  }

  input.value = token();
  document.getElementById("token-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var t = input.value.trim();
    if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY);
    render();
  });
  render();
})();
