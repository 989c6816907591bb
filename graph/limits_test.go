package graph

import (
	"context"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/complexity"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
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
	hook := w.fixture(t, models.ScopeGlobal)
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
