package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
)

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
