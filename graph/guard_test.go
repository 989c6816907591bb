package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
)

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))

	deep := "id"
	for range 7 {
		deep = "services { team { " + deep + " } }"
	}
	_, errs := w.do(t, "admin", "{ teams { "+deep+" } }", nil)
	if webhookErrCode(t, errs) != models.CodeValidation || !strings.Contains(errs[0].Message, "levels deep") {
		t.Fatalf("a 16-level query: want VALIDATION, got %+v", errs)
	}

	// GraphiQL's schema query follows type wrappers 15 levels deep; introspection is exempt.
	typeRef := "kind name"
	for range 8 {
		typeRef = "kind name ofType { " + typeRef + " }"
	}
	data, errs := w.do(t, "admin", "{ __schema { types { name fields { type { "+typeRef+" } } } } }", nil)
	if len(errs) > 0 || !strings.Contains(string(data), `"DeliveryAttempt"`) {
		t.Fatalf("introspection refused: %v", errs)
	}
}

// The pages' operations (web/static/dashboard.js, incident.js, with the attempt fields of
// herald.js: TestAttemptFieldsOfThePages keeps them in step) and the README's example.
const (
	attemptFields = "id number test outcome event startedAt durationMs error errorKind nextRetryAt remoteIp truncated" +
		" request { method url headers { name value } body } response { status headers { name value } body }"
	dashboardAttempt = "fragment A on DeliveryAttempt { " + attemptFields +
		" webhook { id name status consecutiveFailures } delivery { id status incident { id title } } }"
	dashboardHook   = "fragment H on Webhook { id name status inactiveReason consecutiveFailures }"
	dashboardRecent = "query($webhookId: ID) { deliveries(webhookId: $webhookId, first: 30) { edges { node { id status incident { id title } webhook { id name status consecutiveFailures }" +
		" attempts { " + attemptFields + " } } } } }"
	incidentPage = "query($id: ID!, $after: String) { incident(id: $id) { deliveries(first: 50, after: $after) {" +
		" pageInfo { hasNextPage endCursor } edges { node { ...D } } } } }" +
		" fragment D on Delivery { id event status createdAt nextAttemptAt webhook { id name } incident { id title } attempts { " + attemptFields + " } }"
)

// TestAttemptFieldsOfThePages: the attempt fields the pages ask for are the ones costed here.
func TestAttemptFieldsOfThePages(t *testing.T) {
	t.Parallel()
	js, err := os.ReadFile("../web/static/herald.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`var ATTEMPT_FIELDS = ((?:"[^"]*"\s*\+?\s*)+);`).FindSubmatch(js)
	if m == nil {
		t.Fatal("herald.js has no ATTEMPT_FIELDS")
	}
	var fields strings.Builder
	for _, part := range regexp.MustCompile(`"([^"]*)"`).FindAllSubmatch(m[1], -1) {
		fields.Write(part[1])
	}
	if fields.String() != attemptFields {
		t.Errorf("herald.js asks for %q, the cost test for %q", fields.String(), attemptFields)
	}
}

// operationCost is what costLimit weighs an operation at.
func operationCost(t *testing.T, query string, vars map[string]any) int {
	t.Helper()
	es := NewExecutableSchema(Config{Resolvers: &Resolver{}, Complexity: fieldCosts()})
	doc, errs := gqlparser.LoadQueryWithRules(es.Schema(), query, nil)
	if errs != nil {
		t.Fatalf("%s: %v", query, errs)
	}
	op := doc.Operations[0]
	coerced, err := validator.VariableValues(es.Schema(), op, vars)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return complexity.Calculate(context.Background(), es, op, coerced)
}

func TestCostOfRealClients(t *testing.T) {
	t.Parallel()
	ops := map[string]struct {
		query string
		vars  map[string]any
	}{
		"sign in":                {"{ me { name role } }", nil},
		"webhooks":               {"{ webhooks { ...H } } " + dashboardHook, nil},
		"toggle":                 {"mutation($id: ID!) { w: deactivateWebhook(id: $id) { ...H } } " + dashboardHook, map[string]any{"id": "x"}},
		"test":                   {"mutation($id: ID!) { testWebhook(id: $id) { ...A } } " + dashboardAttempt, map[string]any{"id": "x"}},
		"recent":                 {dashboardRecent, map[string]any{"webhookId": nil}},
		"redeliver":              {"mutation($id: ID!) { redeliver(deliveryId: $id) { id status } }", map[string]any{"id": "x"}},
		"preview":                {"query($in: RenderPreviewInput!) { renderPreview(input: $in) { body errors { message line column } warnings truncated validJson } }", map[string]any{"in": map[string]any{}}},
		"placeholders":           {"query($e: WebhookEvent) { placeholders(event: $e) { name description example } }", map[string]any{"e": nil}},
		"live log":               {"subscription { deliveryLog { ...A } } " + dashboardAttempt, nil},
		"README webhook":         {`mutation { createWebhook(input: { name: "chat", scope: SERVICE, serviceId: "x", events: [INCIDENT_CREATED, INCIDENT_RESOLVED], urls: ["https://hooks.example.com/herald"], signing: { scheme: STANDARD_WEBHOOKS } }) { webhook { id status } signingSecret } }`, nil},
		"a full page of the log": {strings.Replace(dashboardRecent, "first: 30", "first: 200", 1), map[string]any{"webhookId": nil}},
		"incident page":          {incidentPage, map[string]any{"id": "INC-1", "after": nil}},
	}
	for name, op := range ops {
		cost := operationCost(t, op.query, op.vars)
		limit := MaxComplexity / 4
		if name == "a full page of the log" {
			limit = MaxComplexity
		}
		if cost > limit {
			t.Errorf("%s costs %d, want at most %d", name, cost, limit)
		}
		t.Logf("%s: %d", name, cost)
	}
}

// aliases repeats a field n times under aliases a0, a1, ….
func aliases(field string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "a%d: %s ", i, field)
	}
	return b.String()
}

func TestCostLimit(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	refused := map[string]struct {
		query string
		vars  map[string]any
	}{
		"150 pages of attempts":   {"{ " + aliases("deliveries(first: 200) { edges { node { attempts { request { body } } } } }", 150) + "}", nil},
		"page size in a variable": {"query($n: Int) { " + aliases("deliveries(first: $n) { edges { node { id } } }", 20) + "}", map[string]any{"n": 200}},
		"default page size":       {"{ " + aliases("incidents { id title service { id name team { id name } } }", 30) + "}", nil},
		"nested pages":            {"{ deliveries(first: 200) { edges { node { webhook { deliveries(first: 200) { edges { node { id } } } } } } } }", nil},
	}
	for name, op := range refused {
		_, errs := w.do(t, "admin", op.query, op.vars)
		if webhookErrCode(t, errs) != models.CodeLimitExceeded || !strings.Contains(errs[0].Message, "more than the limit of") {
			t.Errorf("%s: want LIMIT_EXCEEDED, got %+v", name, errs)
		}
	}
	if _, errs := w.do(t, "admin", dashboardRecent, map[string]any{"webhookId": nil}); len(errs) > 0 {
		t.Errorf("the dashboard's log: %+v", errs)
	}
	if got := pageCost(math.MaxInt/2, nil); got != math.MaxInt {
		t.Errorf("a page of huge items costs %d, want the maximum", got)
	}
}

// TestPageSizeRefused checks that a page size below 0 or above MaxPageSize is VALIDATION on
// first, for every paginated field, and that the cost of a too large one does not hide that.
func TestPageSizeRefused(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	hook := w.fixture(t, webhook.ScopeGlobal)
	fields := map[string]string{
		"deliveries":         `query($n: Int) { deliveries(first: $n) { totalCount } }`,
		"webhook deliveries": `query($n: Int, $id: ID!) { webhook(id: $id) { deliveries(first: $n) { edges { node { id attempts { request { body } } } } } } }`,
		"incidents":          `query($n: Int) { incidents(first: $n) { id title } }`,
		"requests":           `query($n: Int) { requests(first: $n) { id title } }`,
	}
	for name, q := range fields {
		for _, n := range []int{-1, models.MaxPageSize + 1, 1 << 40} {
			_, errs := w.do(t, "admin", q, map[string]any{"n": n, "id": hook.ID})
			if webhookErrCode(t, errs) != models.CodeValidation || errs[0].Extensions["field"] != "first" {
				t.Errorf("%s, first: %d: want VALIDATION on first, got %+v", name, n, errs)
			}
		}
	}
}

// graphiQLIntrospection is graphql-js's getIntrospectionQuery with every option on
// (descriptions, specifiedByUrl, directiveIsRepeatable, schemaDescription,
// inputValueDeprecation, oneOf): the largest schema query GraphiQL sends.
const graphiQLIntrospection = `query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}

fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  isOneOf
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) {
    name
    description
    isDeprecated
    deprecationReason
  }
  possibleTypes { ...TypeRef }
}

fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}

fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
`

// graphiQLIntrospectionTimes is graphiQLIntrospection selecting __schema n times.
func graphiQLIntrospectionTimes(n int) string {
	q := strings.Replace(graphiQLIntrospection, "query IntrospectionQuery {\n  __schema {",
		"query IntrospectionQuery { "+aliases("__schema { ...Schema }", n)+"}\nfragment Schema on __Schema {", 1)
	return strings.Replace(q, "  }\n}\n\nfragment FullType", "}\n\nfragment FullType", 1)
}

// doubling returns fragments F1 … Fn on typ, each spreading the one before it twice, and F0
// selecting leaf: Fn spreads leaf 2^n times in a few dozen bytes a level.
func doubling(typ, leaf string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, " fragment F0 on %s { %s }", typ, leaf)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, " fragment F%d on %s { ...F%d ...F%d }", i, typ, i-1, i-1)
	}
	return b.String()
}

// answerWithin posts query to h as token and returns the errors of the answer, failing the
// test unless it comes within a minute: a limit that walked every spread of every fragment
// would take longer than the universe has.
func answerWithin(t *testing.T, h http.Handler, token, query string) []webhookGQLError {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("no answer within a minute to %.80s…", query)
	}
	var out struct{ Errors []webhookGQLError }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%d %.200s: %v", rec.Code, rec.Body, err)
	}
	return out.Errors
}

// newHandler returns the GraphQL endpoint over the world's store.
func (w *webhookWorld) newHandler() http.Handler {
	return NewHandler(&Resolver{Store: w.s, Logger: slog.New(slog.DiscardHandler)}, nil)
}

// TestIntrospectionLimit checks that an operation selects __schema and __type at most a few
// times and that what its introspection answers is bounded, however it repeats selections
// (aliases, fragments, inline fragments), while GraphiQL's schema query and __typename
// anywhere pass. A read-only member is enough to ask.
func TestIntrospectionLimit(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	schema := " fragment S on __Schema { types { name fields { name args { name } type { name ofType { name } } } } }"
	typeFields := "fields { name args { name } type { name ofType { name } } }"
	refused := map[string]struct{ query, message string }{
		// The security review's query: 104 KB that answered 106 MB.
		"5000 aliases of __schema": {"{ " + aliases("__schema { ...S }", 5000) + "}" + schema, "__schema or __type more than"},
		"six __type":               {"{ " + aliases(`__type(name: "Webhook") { name }`, 6) + "}", "__schema or __type more than"},
		"through fragments": {`{ ...Q ...Q ...Q ... on Query { a: __type(name: "Query") { name } } } fragment Q on Query { ... on Query { __schema { queryType { name } } } b: __type(name: "Query") { name } }`,
			"__schema or __type more than"},
		"aliases inside __schema":   {"{ __schema { " + aliases("types { name "+typeFields+" }", 300) + "} }", "introspection would answer more than"},
		"aliases inside __type":     {`{ __type(name: "Query") { ` + aliases(typeFields, 1200) + "} }", "introspection would answer more than"},
		"aliases two lists deep":    {"{ __schema { types { fields { type { " + aliases("fields { name type { name } }", 300) + " } } } } }", "introspection would answer more than"},
		"fragments under __schema":  {"{ __schema { types { ...F60 } } }" + doubling("__Type", "name", 60), "introspection would answer more than"},
		"fragments under __type":    {`{ __type(name: "Query") { ...F60 } }` + doubling("__Type", "fields { name }", 60), "introspection would answer more than"},
		"GraphiQL's query 20 times": {graphiQLIntrospectionTimes(20), "__schema or __type more than"},
	}
	h := w.newHandler()
	for name, op := range refused {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			errs := answerWithin(t, h, w.tokens["memberA"], op.query)
			if webhookErrCode(t, errs) != models.CodeLimitExceeded || !strings.Contains(errs[0].Message, op.message) {
				t.Errorf("want LIMIT_EXCEEDED (%s), got %.300v", op.message, errs)
			}
			t.Logf("%d bytes, answered in %v", len(op.query), time.Since(start))
		})
	}

	allowed := map[string]struct{ query, want string }{
		"GraphiQL's schema query":    {graphiQLIntrospection, `"DeliveryAttempt"`},
		"__schema and four __type":   {"{ __schema { queryType { name } } " + aliases(`__type(name: "Webhook") { name fields { name } }`, 4) + "}", `"consecutiveFailures"`},
		"__typename, 500 times over": {"{ " + aliases("__typename", 200) + " me { " + aliases("__typename", 100) + " } __schema { queryType { " + aliases("__typename", 200) + " } } }", `"__Type"`},
	}
	for name, op := range allowed {
		data, errs := w.do(t, "memberA", op.query, nil)
		if len(errs) > 0 || !strings.Contains(string(data), op.want) {
			t.Errorf("%s: got %.200s, errors %+v", name, data, errs)
		}
	}
}

// TestFragmentsSpreadManyTimes checks that fragments spread 2^60 times over (in 2 KB) are
// refused at once, by the depth, cost and introspection limits and gqlparser's introspection
// depth rule alike: none follows every spread again.
func TestFragmentsSpreadManyTimes(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	refused := map[string]struct{ query, code string }{
		"fields":                   {"{ ...F60 }" + doubling("Query", "me { id }", 60), models.CodeLimitExceeded},
		"deep fields":              {"{ ...F60 }" + doubling("Query", "teams { "+strings.Repeat("services { team { ", 7)+"id"+strings.Repeat(" } }", 7)+" }", 60), models.CodeValidation},
		"introspection":            {"{ __schema { types { ...F60 } } }" + doubling("__Type", "name", 60), models.CodeLimitExceeded},
		"deep introspection lists": {"{ __schema { types { ...F60 } } }" + doubling("__Type", "fields { type { fields { type { fields { name } } } } }", 60), models.CodeValidation},
	}
	h := w.newHandler()
	for name, op := range refused {
		t.Run(name, func(t *testing.T) {
			if errs := answerWithin(t, h, w.tokens["memberA"], op.query); webhookErrCode(t, errs) != op.code {
				t.Errorf("want %s, got %.300v", op.code, errs)
			}
		})
	}
}

// introspectionValues is what introspectionLimit counts for query's introspection.
func introspectionValues(t *testing.T, query string) int {
	t.Helper()
	schema := NewExecutableSchema(Config{Resolvers: &Resolver{}}).Schema()
	doc, errs := gqlparser.LoadQueryWithRules(schema, query, nil)
	if errs != nil {
		t.Fatalf("%.80s: %v", query, errs)
	}
	w := introspectionWalk{schema: schema, max: math.MaxInt}
	for _, root := range introspectionRoots(doc.Operations[0].SelectionSet, nil, math.MaxInt, map[string]bool{}) {
		w.root(root, nil)
	}
	return w.n
}

// TestGraphiQLIntrospectionWithinLimits: GraphiQL's schema query counts well within
// MaxIntrospectionValues, so that the schema may grow.
func TestGraphiQLIntrospectionWithinLimits(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	data, errs := w.do(t, "memberA", graphiQLIntrospection, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	n := introspectionValues(t, graphiQLIntrospection)
	if n > MaxIntrospectionValues/4 {
		t.Errorf("GraphiQL's schema query counts %d, want at most %d", n, MaxIntrospectionValues/4)
	}
	t.Logf("GraphiQL's schema query: %d values counted, %d bytes answered", n, len(data))
}

// TestWebsocketOperationsLimit checks that one websocket connection runs at most
// MaxWebsocketOperations operations at once: the next is refused with LIMIT_EXCEEDED in an
// error message for its id, the connection stays open, and completing one frees its place.
func TestWebsocketOperationsLimit(t *testing.T) {
	t.Parallel()
	for protocol, stop := range map[string]string{"graphql-transport-ws": "complete", "graphql-ws": "stop"} {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			w := setupLogWorld(t, storetest.Open(t, models.DialectSQLite))
			conn := w.connect(t, protocol, nil, w.memberB)
			const query = "subscription { deliveryLog { id } }"
			for i := 1; i <= MaxWebsocketOperations; i++ {
				startOperation(t, conn, fmt.Sprint(i), query, nil)
			}
			c := newWSClient(conn)
			waitFor(t, func() bool { return w.store.Hub().Len() == MaxWebsocketOperations })
			over := fmt.Sprint(MaxWebsocketOperations + 1)
			startOperation(t, conn, over, query, nil)
			var m wsMessage
			for m.Type == "" || m.Type == "ka" || m.Type == "ping" { // keep-alives may come first
				var ok bool
				select {
				case m, ok = <-c.C:
					if !ok {
						t.Fatalf("connection closed: %v", c.Err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("operation %s was not refused", over)
				}
			}
			var errs []struct {
				Message    string
				Extensions struct{ Code string }
			}
			if err := json.Unmarshal(m.Payload, &errs); err != nil || m.Type != "error" || m.ID != over || len(errs) != 1 ||
				errs[0].Extensions.Code != models.CodeLimitExceeded || !strings.Contains(errs[0].Message, fmt.Sprintf("at most %d ", MaxWebsocketOperations)) {
				t.Fatalf("got %s %s %s (%v), want an error message with LIMIT_EXCEEDED for %s", m.Type, m.ID, m.Payload, err, over)
			}
			if n := w.store.Hub().Len(); n != MaxWebsocketOperations {
				t.Fatalf("%d subscribers, want %d", n, MaxWebsocketOperations)
			}

			must(t, conn.WriteJSON(wsMessage{ID: "1", Type: stop}))
			waitFor(t, func() bool { return w.store.Hub().Len() == MaxWebsocketOperations-1 })
			startOperation(t, conn, over, query, nil)
			waitFor(t, func() bool { return w.store.Hub().Len() == MaxWebsocketOperations })
		})
	}
}

// repeatedFieldDocuments are documents that cost gqlparser's field-merging rule pairs of
// same-named fields by the million (`{ me { id id … } }` with 4,000 ids: 9 s), each within the
// 1 MiB body limit.
func repeatedFieldDocuments() map[string]string {
	return map[string]string{
		"one field 4,000 times":            "{ me { " + strings.Repeat("id ", 4000) + "} }",
		"one object 2,000 times":           "{ " + strings.Repeat("me { id } ", 2000) + "}",
		"nested repeats":                   "{ " + strings.Repeat("teams { services { team { "+strings.Repeat("id ", 20)+"} } } ", 200) + "}",
		"one field in 500 fragments":       "{ me { " + fragmentSpreads(500) + "} }" + fragmentDefinitions(500, "User", "id"),
		"1 MiB of one field (token limit)": "{ me { " + strings.Repeat("id ", MaxRequestBytes/3-20) + "} }",
	}
}

func fragmentSpreads(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "...F%d ", i)
	}
	return b.String()
}

func fragmentDefinitions(n int, on, selection string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " fragment F%d on %s { %s }", i, on, selection)
	}
	return b.String()
}

// TestRepeatedFieldsRefusedBeforeValidation checks that documents repeating a field by the
// thousand are refused with LIMIT_EXCEEDED before gqlparser's validation compares them pair
// by pair, while a field repeated a few times, as clients do, is answered.
func TestRepeatedFieldsRefusedBeforeValidation(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	h := w.newHandler()
	for name, query := range repeatedFieldDocuments() {
		t.Run(name, func(t *testing.T) {
			errs := answerWithin(t, h, w.tokens["memberA"], query)
			if len(errs) == 0 {
				t.Fatal("answered")
			}
			if name == "1 MiB of one field (token limit)" {
				if !strings.Contains(errs[0].Message, "token limit") {
					t.Fatalf("want the parser's token limit, got %.300v", errs)
				}
				return
			}
			if webhookErrCode(t, errs) != models.CodeLimitExceeded {
				t.Fatalf("want LIMIT_EXCEEDED, got %.300v", errs)
			}
		})
	}
	data, errs := w.do(t, "memberA", "{ me { id id name ... on User { id } } a: me { id } }", nil)
	if len(errs) > 0 || !strings.Contains(string(data), `"a":{"id"`) {
		t.Fatalf("a field repeated a few times: %s %v", data, errs)
	}
}

// BenchmarkWorstDocuments measures how long the handler takes to refuse each of
// repeatedFieldDocuments, and to answer the most repeated field it accepts (the README
// quotes it).
func BenchmarkWorstDocuments(b *testing.B) {
	s := storetest.Open(b, models.DialectSQLite)
	user, err := s.CreateUser(context.Background(), "member", nil, models.RoleGlobalAdmin, nil)
	if err != nil {
		b.Fatal(err)
	}
	token, err := s.CreateAPIToken(context.Background(), user.ID, "bench")
	if err != nil {
		b.Fatal(err)
	}
	h := NewHandler(&Resolver{Store: s, Logger: slog.New(slog.DiscardHandler)}, nil)
	documents := repeatedFieldDocuments()
	documents["one field 220 times (answered)"] = "{ me { " + strings.Repeat("id ", 220) + "} }"
	for name, query := range documents {
		body, _ := json.Marshal(map[string]string{"query": query})
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
			}
		})
	}
}

// postRaw runs an operation through the real handler as a role and returns the HTTP status
// and the errors, also when the status is not 200 (gqlgen's client refuses those).
func (w *webhookWorld) postRaw(t *testing.T, role, query string, vars map[string]any) (int, []webhookGQLError) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+w.tokens[role])
	rec := httptest.NewRecorder()
	NewHandler(&Resolver{Store: w.s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil).ServeHTTP(rec, req)
	var out struct {
		Errors []webhookGQLError `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("answer is not JSON (%d): %s", rec.Code, rec.Body)
	}
	return rec.Code, out.Errors
}

func TestInvalidInputNamesTheField(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	const create = `mutation($i: WebhookInput!) { createWebhook(input: $i) { webhook { id } } }`
	with := func(k string, v any) map[string]any {
		in := w.webhookInput(webhook.ScopeGlobal)
		if v == nil {
			delete(in, k)
		} else {
			in[k] = v
		}
		return map[string]any{"i": in}
	}
	tests := map[string]struct {
		query   string
		vars    map[string]any
		field   string
		message string
	}{
		"enum value":             {create, with("method", "FOO"), "method", "method: FOO is not a valid HttpMethod"},
		"required field missing": {create, with("name", nil), "name", "name: "},
		"wrong scalar type":      {create, with("retryCount", "x"), "retryCount", "retryCount: "},
		"field of a list item": {create, with("headers", []any{map[string]any{"name": "a", "value": "b"}, map[string]any{"value": "b"}}),
			"headers[1].name", "headers[1].name: "},
		"nested lists": {create, with("filter", map[string]any{"join": "AND", "groups": []any{map[string]any{"join": "OR",
			"conditions": []any{map[string]any{"field": "SERVICE", "operator": "IS", "value": "x"}, map[string]any{"field": "NOPE", "operator": "IS", "value": "x"}}}}}),
			"filter.groups[0].conditions[1].field", "NOPE is not a valid FilterField"},
		"variable inside an input literal": {
			`mutation($m: HttpMethod) { createWebhook(input: {name: "x", scope: GLOBAL, events: [INCIDENT_CREATED], urls: ["https://example.com"], method: $m}) { webhook { id } } }`,
			map[string]any{"m": "FOO"}, "method", "method: FOO"},
		"variable inside a list literal": {
			`mutation($h: KeyValueInput!) { createWebhook(input: {name: "x", scope: GLOBAL, events: [INCIDENT_CREATED], urls: ["https://example.com"], headers: [{name: "a", value: "b"}, $h]}) { webhook { id } } }`,
			map[string]any{"h": map[string]any{"value": "x"}}, "headers[1].name", "headers[1].name: "},
		"variable in a fragment": {`mutation($i: WebhookInput!) { ...F } fragment F on Mutation { createWebhook(input: $i) { webhook { id } } }`,
			with("method", "FOO"), "method", "method: FOO"},
		"argument other than input": {`query($f: Int) { deliveries(first: $f) { totalCount } }`, map[string]any{"f": "x"}, "first", "first: "},
		"field of another input object": {`mutation($s: ID!, $a: ApiFilterInput) { createIntegration(serviceId: $s, name: "x", apiFilter: $a) { token } }`,
			map[string]any{"s": w.service.ID, "a": map[string]any{"resolveWhen": map[string]any{"key": "status"}}}, "apiFilter.resolveWhen.value", "apiFilter.resolveWhen.value: "},
		"whole input missing": {create, map[string]any{}, "input", "input: "},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			status, errs := w.postRaw(t, "admin", tc.query, tc.vars)
			if status != http.StatusUnprocessableEntity || len(errs) != 1 {
				t.Fatalf("HTTP %d, %+v; want 422 and one error", status, errs)
			}
			e := errs[0]
			if e.Extensions["code"] != models.CodeValidation || e.Extensions["field"] != tc.field || !strings.Contains(e.Message, tc.message) {
				t.Errorf("got %+v, want VALIDATION on %s, message with %q", e, tc.field, tc.message)
			}
		})
	}
}

// An argument literal the document validation refuses is input written in the query: VALIDATION
// naming the field as a variable's error would (SPEC §4), with gqlparser's message as it is,
// still HTTP 422.
func TestInvalidLiteralNamesTheField(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	hook := w.fixture(t, webhook.ScopeGlobal)
	create := func(fields string) string {
		return `mutation { createWebhook(input: {` + fields + `}) { webhook { id } } }`
	}
	const valid = `name: "x", scope: GLOBAL, events: [INCIDENT_CREATED], urls: ["http://a.b/"]`
	type want struct{ field, message string }
	tests := map[string]struct {
		query string
		want  []want
	}{
		"required field of a list item": {create(valid + `, headers: [{name: "a"}]`),
			[]want{{"headers[0].value", `Field "KeyValueInput.value" of required type "String!" was not provided.`}}},
		"enum value": {create(valid + `, method: FOO`),
			[]want{{"method", `Value "FOO" does not exist in "HttpMethod" enum.`}}},
		"required field missing": {create(`scope: GLOBAL, events: [INCIDENT_CREATED], urls: ["http://a.b/"]`),
			[]want{{"name", `Field "WebhookInput.name" of required type "String!" was not provided.`}}},
		"unknown field of a nested input": {create(valid + `, auth: {type: BEARER, tokn: "x"}`),
			[]want{{"auth.tokn", `Field "tokn" is not defined by type "AuthInput". Did you mean "token"?`}}},
		"unknown and missing fields": {create(valid + `, auth: {tokn: "x"}`),
			[]want{{"auth.type", `Field "AuthInput.type" of required type "AuthType!" was not provided.`},
				{"auth.tokn", `Field "tokn" is not defined by type "AuthInput". Did you mean "token"?`}}},
		"wrong scalar type in a patch": {`mutation { updateWebhook(id: "` + hook.ID + `", input: {retryCount: "a"}) { id } }`,
			[]want{{"retryCount", `Int cannot represent non-integer value: "a"`}}},
		"null for a required field": {create(`name: null, scope: GLOBAL, events: [INCIDENT_CREATED], urls: ["http://a.b/"]`),
			[]want{{"name", `Expected value of type "String!", found null.`}}},
		"list item": {create(`name: "x", scope: GLOBAL, events: [INCIDENT_CREATED], urls: ["http://a.b/", 1]`),
			[]want{{"urls[1]", `String cannot represent a non string value: 1`}}},
		"nested lists": {create(valid + `, filter: {join: AND, groups: [{join: OR, conditions: [
				{field: SERVICE, operator: IS, value: "x"},
				{field: NOPE, operator: IS, value: "x"}]}]}`),
			[]want{{"filter.groups[0].conditions[1].field", `Value "NOPE" does not exist in "FilterField!" enum.`}}},
		"input field given twice": {create(valid + `, method: POST, method: PUT`),
			[]want{{"method", `There can be only one input field named "method".`}}},
		"two mistakes": {create("\n\t" + `name: "x", scope: GLOBAL, events: [INCIDENT_CREATED, NOPE],` + "\n" + `urls: ["http://a.b/"], headers: [{name: "a", value: 1}]`),
			[]want{{"events[1]", `Value "NOPE" does not exist in "WebhookEvent!" enum.`}, {"headers[0].value", `String cannot represent a non string value: 1`}}},
		// gqlparser reports a mistake in a fragment once for the fragment and once for its spread.
		"in a fragment": {`mutation { ...F } fragment F on Mutation { a: createWebhook(input: {` + valid + `, method: FOO}) { webhook { id } } }`,
			[]want{{"method", `Value "FOO" does not exist in "HttpMethod" enum.`}, {"method", `Value "FOO" does not exist in "HttpMethod" enum.`}}},
		"argument other than input": {`{ deliveries(first: "x") { totalCount } }`,
			[]want{{"first", `Int cannot represent non-integer value: "x"`}}},
		"field of another input object": {`mutation { createIntegration(serviceId: "` + w.service.ID + `", name: "x", apiFilter: {resolveWhen: {key: "status"}}) { token } }`,
			[]want{{"apiFilter.resolveWhen.value", `Field "MatchInput.value" of required type "String!" was not provided.`}}},
		"whole input missing": {`mutation { createWebhook { webhook { id } } }`,
			[]want{{"input", `Field "createWebhook" argument "input" of type "WebhookInput!" is required, but it was not provided.`}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			status, errs := w.postRaw(t, "admin", tc.query, nil)
			if status != http.StatusUnprocessableEntity || len(errs) != len(tc.want) {
				t.Fatalf("HTTP %d, %+v; want 422 and %d errors", status, errs, len(tc.want))
			}
			for i, e := range errs {
				if e.Extensions["code"] != models.CodeValidation || e.Extensions["field"] != tc.want[i].field || e.Message != tc.want[i].message {
					t.Errorf("error %d: got %+v, want VALIDATION on %s: %q", i, e, tc.want[i].field, tc.want[i].message)
				}
			}
		})
	}
}

// TestInvalidLiteralOverWebsockets checks that an argument literal the document validation
// refuses names its field over websockets too.
func TestInvalidLiteralOverWebsockets(t *testing.T) {
	t.Parallel()
	w := setupLogWorld(t, storetest.Open(t, models.DialectSQLite))
	c := w.subscribeTo(t, w.admin, `subscription { deliveryLog(teamId: 1.5) { id } }`, nil)
	errs := wsErrors(t, c)
	if len(errs) != 1 || errs[0].Extensions["code"] != models.CodeValidation || errs[0].Extensions["field"] != "teamId" {
		t.Errorf("got %+v, want VALIDATION on teamId", errs)
	}
}

// A query document that does not parse or validate, where the mistake is not an argument's
// literal, is not input: VALIDATION without a field, still HTTP 422.
func TestDocumentErrorsAreValidation(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	tests := map[string]struct{ query, message string }{
		"syntax":           {`{ teams { `, "Expected Name"},
		"unknown field":    {`{ nope }`, `Cannot query field "nope"`},
		"unknown argument": {`{ teams(first: 1) { id } }`, `Unknown argument "first"`},
		"variable default": {`mutation($m: HttpMethod = FOO) { createWebhook(input: {name: "x", scope: GLOBAL, events: [INCIDENT_CREATED], urls: ["https://example.com"], method: $m}) { webhook { id } } }`,
			`"FOO" does not exist in "HttpMethod"`},
		"directive argument": {`{ teams @include(if: "yes") { id } }`, `Boolean cannot represent`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			status, errs := w.postRaw(t, "admin", tc.query, nil)
			if status != http.StatusUnprocessableEntity || len(errs) != 1 {
				t.Fatalf("HTTP %d, %+v; want 422 and one error", status, errs)
			}
			e := errs[0]
			if _, ok := e.Extensions["field"]; e.Extensions["code"] != models.CodeValidation || ok || !strings.Contains(e.Message, tc.message) {
				t.Errorf("got %+v, want VALIDATION without a field, message with %q", e, tc.message)
			}
		})
	}
}

// The presenter leaves gqlgen's error as it is: transports read its code after presenting it
// (websockets answer an "error" message for GRAPHQL_VALIDATION_FAILED).
func TestPresentErrorKeepsTheOriginal(t *testing.T) {
	t.Parallel()
	present := presentError(slog.New(slog.NewTextHandler(io.Discard, nil)))
	in := gqlerror.ErrorPathf(ast.Path{ast.PathName("variable"), ast.PathName("i")}, "must be defined")
	in.Extensions = map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}
	out := present(context.Background(), in)
	if out.Extensions["code"] != models.CodeValidation || out.Extensions["field"] != "i" {
		t.Errorf("presented %+v", out)
	}
	if in.Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" || in.Message != "must be defined" {
		t.Errorf("the original changed: %+v", in)
	}
}

// An argument gqlgen cannot decode has a path below its field's.
func TestPresentErrorNamesAnUndecodableArgument(t *testing.T) {
	t.Parallel()
	present := presentError(slog.New(slog.NewTextHandler(io.Discard, nil)))
	field := &ast.Field{Alias: "recent", Name: "deliveries"}
	ctx := graphql.WithFieldContext(context.Background(), &graphql.FieldContext{Field: graphql.CollectedField{Field: field}})
	tests := map[string]struct {
		path  ast.Path
		field string
	}{
		"argument":     {ast.Path{ast.PathName("recent"), ast.PathName("first")}, "first"},
		"inside input": {ast.Path{ast.PathName("recent"), ast.PathName("input"), ast.PathName("headers"), ast.PathIndex(2), ast.PathName("value")}, "headers[2].value"},
	}
	for name, tc := range tests {
		out := present(ctx, gqlerror.WrapPath(tc.path, errors.New("not an int")))
		if got, _ := out.Extensions["field"].(string); out.Extensions["code"] != models.CodeValidation || got != tc.field {
			t.Errorf("%s: presented %+v, want VALIDATION on %q", name, out, tc.field)
		}
	}
}

// An error a resolver returns that is not a domain error (a driver's, say) reaches gqlgen's
// presenter wrapped at the field's path: it is INTERNAL, and its text is never shown.
func TestPresentErrorHidesAResolverError(t *testing.T) {
	t.Parallel()
	present := presentError(slog.New(slog.NewTextHandler(io.Discard, nil)))
	field := &ast.Field{Alias: "recent", Name: "deliveries"}
	ctx := graphql.WithFieldContext(context.Background(), &graphql.FieldContext{Field: graphql.CollectedField{Field: field}})
	driver := errors.New(`ERROR: invalid byte sequence for encoding "UTF8": 0x00 (SQLSTATE 22021)`)
	for name, err := range map[string]error{
		"plain":   driver,
		"wrapped": fmt.Errorf("create team: %w", driver),
	} {
		out := present(ctx, gqlerror.WrapPath(ast.Path{ast.PathName("recent")}, err))
		if _, ok := out.Extensions["field"]; out.Extensions["code"] != models.CodeInternal || out.Message != "internal error" || ok {
			t.Errorf("%s: presented %+v, want INTERNAL \"internal error\" without a field", name, out)
		}
	}
}

func TestDuplicateNamesAreValidation(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	tests := map[string]struct {
		query   string
		vars    map[string]any
		message string
	}{
		"team":    {`mutation($n: String!) { createTeam(name: $n) { id } }`, map[string]any{"n": w.teamA.Name}, "a team with this name already exists"},
		"service": {`mutation($t: ID!) { createService(teamId: $t, name: "api") { id } }`, map[string]any{"t": w.teamA.ID}, "the team already has a service with this name"},
	}
	for name, tc := range tests {
		_, errs := w.do(t, "admin", tc.query, tc.vars)
		if len(errs) != 1 || errs[0].Extensions["code"] != models.CodeValidation || errs[0].Extensions["field"] != "name" || errs[0].Message != tc.message {
			t.Errorf("%s: %+v, want VALIDATION on name: %q", name, errs, tc.message)
		}
	}
	if _, errs := w.do(t, "admin", `mutation($t: ID!) { createService(teamId: $t, name: "api") { id } }`, map[string]any{"t": w.teamB.ID}); len(errs) > 0 {
		t.Errorf("the same service name in another team: %+v", errs)
	}
}

// A document's argument literals are indexed once per operation, however many of its values
// are refused, and again for the next operation of the same request or connection.
func TestLiteralSpotsOncePerOperation(t *testing.T) {
	t.Parallel()
	memo := &literalMemo{}
	base := context.WithValue(context.Background(), literalMemoKey{}, memo)
	first := graphql.WithOperationContext(base, &graphql.OperationContext{RawQuery: `{ deliveries(first: "x") { totalCount } }`})
	spots := literalSpotsOf(first)
	if got := spots[gqlerror.Location{Line: 1, Column: 22}].String(); got != "first" {
		t.Fatalf("the argument's value is at %q, want first", got)
	}
	if again := literalSpotsOf(first); reflect.ValueOf(again).Pointer() != reflect.ValueOf(spots).Pointer() {
		t.Error("the same operation's literals were indexed twice")
	}
	next := graphql.WithOperationContext(base, &graphql.OperationContext{RawQuery: `{ deliveries(status: 1) { totalCount } }`})
	if got := literalSpotsOf(next)[gqlerror.Location{Line: 1, Column: 22}].String(); got != "status" {
		t.Errorf("the next operation's value is at %q, want status", got)
	}
}
