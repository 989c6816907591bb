package gorillaws

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// CloseForbidden is the close code ("Forbidden" in the graphql-transport-ws protocol) of a
// connection_init refused through Forbidden.
const CloseForbidden = 4403

// CloseTooManyConnections is the close code of a connection refused because too many are open
// (Transport.MaxConnections, or an InitFunc's TooMany): 4429, after HTTP's 429.
const CloseTooManyConnections = 4429

// The other close codes of the graphql-transport-ws protocol (github.com/enisdenjo/graphql-ws,
// PROTOCOL.md), used for the legacy graphql-ws protocol too, which has none of its own.
const (
	closeInvalidMessage = 4400
	closeUnauthorized   = 4401
	closeInitTimeout    = 4408
	closeDuplicateID    = 4409
	closeTooManyInits   = 4429
	closeInternalError  = 4500
)

// A close frame's payload is at most 125 bytes, two of which hold the code.
const maxCloseReason = 123

// kind is what a client message asks for, whatever its protocol calls it.
type kind int

const (
	kindInvalid kind = iota
	kindInit
	kindPing
	kindPong
	kindSubscribe
	kindStop
	kindTerminate
)

// protocol names the messages of one subprotocol.
type protocol struct {
	name string
	// in maps the client's message types to their kinds.
	in map[string]kind
	// next carries a result; keepAlive is sent every Transport.KeepAlive.
	next, keepAlive string
	// legacy protocols have connection_error and no ping or pong.
	legacy bool
}

var (
	transportWS = &protocol{
		name: "graphql-transport-ws",
		in: map[string]kind{
			"connection_init": kindInit, "ping": kindPing, "pong": kindPong,
			"subscribe": kindSubscribe, "complete": kindStop,
		},
		next: "next", keepAlive: "ping",
	}
	legacyWS = &protocol{
		name: "graphql-ws",
		in: map[string]kind{
			"connection_init": kindInit, "start": kindSubscribe, "stop": kindStop,
			"connection_terminate": kindTerminate,
		},
		next: "data", keepAlive: "ka", legacy: true,
	}
)

// protocolOf returns the negotiated subprotocol; a client that offered none gets the legacy
// one, as from gqlgen's transport.
func protocolOf(name string) *protocol {
	if name == transportWS.name {
		return transportWS
	}
	return legacyWS
}

// inMessage is a message from the client.
type inMessage struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// encodeMessage returns the JSON of a message to the client; payload is JSON already and
// copied as it is, which spares re-validating every result sent.
func encodeMessage(typ, id string, payload []byte) []byte {
	b := make([]byte, 0, len(`{"type":"","id":,"payload":}`)+len(typ)+len(id)+2+len(payload))
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if id != "" {
		b = append(b, `,"id":`...)
		b = appendString(b, id)
	}
	if len(payload) > 0 {
		b = append(b, `,"payload":`...)
		b = append(b, payload...)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string, as encoding/json writes it. An operation id is
// nearly always plain (a number, a UUID) and copied as it is: encoding/json would cost more
// than the rest of a message and, with its deep calls, grow the stack of the short-lived
// pump goroutine that sends it.
func appendString(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s) // a string always encodes
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// closeReason makes reason valid UTF-8 of at most maxCloseReason bytes;
// gorilla refuses a longer control frame and browsers fail on invalid text.
func closeReason(reason string) string {
	reason = strings.ToValidUTF8(reason, "")
	if len(reason) <= maxCloseReason {
		return reason
	}
	for end := maxCloseReason; end > 0; end-- {
		if utf8.RuneStart(reason[end]) {
			return reason[:end]
		}
	}
	return ""
}
