package graph

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/herald-hq/herald/graph/gorillaws"
	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

// TestWebsocketConnectionCaps checks the per-token and process-wide websocket caps: beyond
// them a connection is closed with 4429 and a reason naming the setting, other tokens are not
// held up by one token's cap, and a closed connection frees its place.
func TestWebsocketConnectionCaps(t *testing.T) {
	t.Parallel()
	w := setupLogWorld(t, storetest.Open(t, models.DialectSQLite))
	h := NewHandler(&Resolver{Store: w.store, Logger: slog.New(slog.DiscardHandler), WebsocketMaxPerToken: 2, WebsocketMaxConnections: 4}, nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	w.url = "ws" + strings.TrimPrefix(srv.URL, "http")

	refusedWith := func(token, setting string) {
		t.Helper()
		c, _, err := websocket.DefaultDialer.Dial(w.url, nil)
		must(t, err)
		defer c.Close()
		init, _ := json.Marshal(map[string]any{"Authorization": "Bearer " + token})
		_ = c.WriteJSON(wsMessage{Type: "connection_init", Payload: init})
		_, err = readUntilClosed(c)
		if !websocket.IsCloseError(err, gorillaws.CloseTooManyConnections) || !strings.Contains(err.(*websocket.CloseError).Text, setting) {
			t.Fatalf("got %v, want close 4429 naming %s", err, setting)
		}
	}
	first := w.connect(t, "graphql-transport-ws", nil, w.managerA)
	w.connect(t, "graphql-transport-ws", nil, w.managerA)
	refusedWith(w.managerA, "HERALD_WS_MAX_PER_TOKEN")
	// The refused connection counts until the server has finished closing it.
	waitFor(t, func() bool { return h.WebsocketConnections() == 2 })
	w.connect(t, "graphql-transport-ws", nil, w.admin)
	w.connect(t, "graphql-transport-ws", nil, w.memberB)
	waitFor(t, func() bool { return h.WebsocketConnections() == 4 })
	refusedWith(w.admin, "HERALD_WS_MAX_CONNECTIONS")

	must(t, first.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second)))
	_, _ = readUntilClosed(first)
	waitFor(t, func() bool { return h.WebsocketConnections() == 3 })
	w.connect(t, "graphql-transport-ws", nil, w.managerA)
	if n := h.WebsocketConnections(); n != 4 {
		t.Fatalf("%d connections open, want 4", n)
	}
}
