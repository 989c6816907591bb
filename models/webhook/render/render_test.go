package render

import (
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// clock is the fixed event time of every test.
var clock = time.Date(2026, 11, 22, 9, 5, 42, 0, time.UTC)

// testData is the incident of the seed's example (INC-123, "Its a title", high urgency).
func testData() Data {
	created := clock.Add(-30 * time.Minute)
	return Data{
		Event:      "incident.created",
		DeliveryID: "dlv_0001",
		WebhookID:  "wh_0001",
		Timestamp:  clock,
		User:       "Prometheus",
		Incident: Incident{
			ID:          "INC-123",
			Title:       "Its a title",
			Description: "CPU above 90% on db-1",
			Urgency:     "HIGH",
			Status:      "TRIGGERED",
			MappedWith:  "db-1/cpu",
			URL:         "http://localhost:8080/incidents/INC-123",
			AlertSource: "prometheus",
			ServiceID:   "svc_1",
			ServiceName: "Database",
			TeamID:      "team_1",
			TeamName:    "Storage",
			CreatedAt:   created,
		},
	}
}

// seedPayload is the custom payload example of the seed, with its typo corrected.
const seedPayload = `{  "id" : "{{incident.id}}",  "title" : "{{incident.title}}",  "urgency" : {{{ if(incident.urgency==high) return("high"); if(incident.urgency==low) return("low"); return ("none"); }}}}`

func TestSeedExampleExact(t *testing.T) {
	t.Parallel()
	tmpl, errs := Parse(seedPayload)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	d := testData()
	body, cut := RenderBody(tmpl, &d, JSON)
	const want = `{  "id" : "INC-123",  "title" : "Its a title",  "urgency" : "high"}` // as printed by the seed
	if string(body) != want || cut {
		t.Fatalf("got %s (cut %v), want %s", body, cut, want)
	}
}

func TestGolden(t *testing.T) {
	t.Parallel()
	low := func(d *Data) { d.Incident.Urgency = "LOW" }
	tests := map[string]struct {
		src    string
		ct     ContentType
		mutate func(*Data)
	}{
		"seed_payload_high":       {src: seedPayload, ct: JSON},
		"seed_payload_low":        {src: seedPayload, ct: JSON, mutate: low},
		"seed_payload_typo":       {ct: JSON, src: `{  "id" : "{{incident.id}}",  "title" : "{{incident.title}}",  "urgency" : {{{ if(incident.urgency==high) return("high"); if(incident_urgency==low) return("low"); return ("none"); }}}}`},
		"seed_placeholders":       {ct: TEXT, src: "{{incident.id}} - Id of incident\n{{incident.title}} - Title of incident\n{{incident.description}} - Description of incident\n{{incident.urgency}} - Urgency of incident\n{{incident.status}} - Status of incident\n{{incident.mapped_with}} - Value used to map the incident while creation\n{{incident.url}} - URL of incident\n{{webhook.id}} - Id of webhook\n{{webhook.event}} - Event of webhook\n{{user}} - User related with this event\n{{timestamp}} - Timestamp of webhook\n"},
		"seed_extra_placeholders": {ct: TEXT, src: "{{incident.alert_source}}|{{incident.service.id}}|{{incident.service.name}}|{{incident.team.id}}|{{incident.team.name}}|[{{incident.assignee}}]|{{incident.created_at}}|{{delivery.id}}\n"},
		// if(placeholder==placeholder_possible_value) return(return_value); return(another_value) — no final semicolon.
		"seed_if_format":       {ct: TEXT, src: `{{{ if(incident.status==triggered) return(return_value); return(another_value) }}}`},
		"seed_if_format_else":  {ct: TEXT, src: `{{{if(incident.status==acknowledged) return(return_value);return(another_value)}}}`},
		"seed_braced_urgency":  {ct: JSON, src: `{"priority": {{{ if({{incident.urgency}}==high) return("P1"); return("P3"); }}}}`},
		"seed_status_values":   {ct: TEXT, mutate: func(d *Data) { d.Incident.Status = "ACKNOWLEDGED" }, src: `{{{ if({{incident.status}}==triggered) return(new); if({{incident.status}}==acknowledged) return(seen); if({{incident.status}}==resolved) return(done); return(?); }}}`},
		"seed_event_values":    {ct: JSON, mutate: func(d *Data) { d.Event = "incident.unacknowledged" }, src: `{"state": {{{ if({{webhook.event}}==incident.created) return("open"); if({{webhook.event}}==incident.acknowledged) return("seen"); if({{webhook.event}}==incident.unacknowledged) return("reopened"); if({{webhook.event}}==incident.resolved) return("closed"); return("other"); }}}}`},
		"spec_spaces":          {ct: JSON, mutate: low, src: `{"id": "{{ incident.id }}", "u": {{{ if ( incident.urgency == high ) return ("high") ; return ( "none" ) ; }}}}`},
		"spec_not_equal":       {ct: JSON, src: `{"quiet": {{{ if(incident.urgency!=high) return(true); return(false); }}}}`},
		"quoted_values":        {ct: TEXT, src: `{{{ if(incident.urgency=="HIGH") return(a); return(b); }}} {{{ if(incident.urgency=='low') return(c); return(d); }}}`},
		"return_placeholders":  {ct: JSON, mutate: func(d *Data) { d.Incident.Title = `Disk "full" on C:\` }, src: "{\n  \"text\": {{{ if(incident.urgency==high) return(\"URGENT: {{incident.title}} ({{incident.id}})\"); return(\"{{incident.title}}\"); }}}\n}"},
		"return_parentheses":   {ct: TEXT, src: `{{{ if(incident.urgency==high) return((high) "a)b"); return([low]); }}}`},
		"multiline_block":      {ct: JSON, src: "{\n  \"urgency\": {{{\n    if(incident.urgency==low) return(\"low\");\n    return(\"high\");\n  }}},\n  \"at\": \"{{timestamp}}\"\n}"},
		"block_in_text":        {ct: TEXT, mutate: low, src: `Incident {{incident.id}} is {{{ if(incident.urgency==high) return(URGENT); return(routine); }}} ({{incident.status}}) for {{user}}`},
		"condition_free_field": {ct: TEXT, src: `{{{ if(incident.service.name==Database) return(dba); if(incident.assignee!="") return(assigned); return(team); }}}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := testData()
			if tc.mutate != nil {
				tc.mutate(&d)
			}
			var got string
			if tmpl, errs := Parse(tc.src); len(errs) > 0 {
				for _, e := range errs {
					got += e.Error() + "\n"
				}
			} else {
				body, _ := RenderBody(tmpl, &d, tc.ct)
				got = string(body)
				if tc.ct == JSON && !json.Valid(body) {
					t.Errorf("not valid JSON: %s", body)
				}
			}
			golden(t, name, got)
		})
	}
}

func TestGoldenQuery(t *testing.T) {
	t.Parallel()
	d := testData()
	params := []QueryParam{
		{Name: "title", Value: mustParse(t, "{{incident.title}} & more")},
		{Name: "urgency", Value: mustParse(t, `{{{ if(incident.urgency==high) return("high"); return("none"); }}}`)},
		{Name: "at", Value: mustParse(t, "{{timestamp}}")},
		{Name: "user name", Value: mustParse(t, "{{user}}")},
	}
	q, cut := QueryString(params, &d)
	if cut {
		t.Fatal("unexpected cut")
	}
	golden(t, "query", q)
}

func TestGoldenEnvelope(t *testing.T) {
	t.Parallel()
	d := testData()
	golden(t, "envelope", string(Envelope(&d, []KV{{"region", "eu-west-1"}})))
	s := Sample("incident.resolved", clock)
	golden(t, "envelope_sample_resolved", string(Envelope(&s, nil)))
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s: got\n%s\nwant\n%s", path, got, want)
	}
}

func mustParse(t testing.TB, src string) *Template {
	t.Helper()
	tmpl, errs := Parse(src)
	if len(errs) > 0 {
		t.Fatalf("parse %q: %v", src, errs)
	}
	return tmpl
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		src          string
		line, column int
		message      string
	}{
		"unknown placeholder":    {`{"a": "{{incident_urgency}}"}`, 1, 10, "unknown placeholder incident_urgency; did you mean incident.urgency?"},
		"unknown short name":     {"{{title}}", 1, 3, "unknown placeholder title; did you mean incident.title?"},
		"unknown far name":       {"{{ foo }}", 1, 4, "unknown placeholder foo"},
		"unknown in if":          {`{{{ if(incident_urgency==low) return("low"); return("none"); }}}`, 1, 8, "unknown placeholder incident_urgency; did you mean incident.urgency?"},
		"unknown in return":      {`{{{ if(incident.urgency==low) return("{{incident.titel}}"); return("none"); }}}`, 1, 41, "unknown placeholder incident.titel; did you mean incident.title?"},
		"column in characters":   {"é\n  ü{{bad}}", 2, 6, "unknown placeholder bad"},
		"empty placeholder":      {"a\n  {{}}", 2, 3, "empty placeholder {{}}"},
		"blank placeholder":      {"{{   }}", 1, 1, "empty placeholder {{}}"},
		"unclosed placeholder":   {"ab {{incident.id\n}}", 1, 4, "unclosed {{: expected }} after {{incident.id"},
		"unclosed at end":        {"ab {{incident.id}", 1, 4, "unclosed {{"},
		"space in placeholder":   {"{{incident title}}", 1, 12, `unexpected 't' in placeholder`},
		"unclosed block":         {"x\n{{{ if(incident.urgency==high) return(\"a\"); return(\"b\");", 2, 1, "unclosed {{{"},
		"block without if":       {`{{{ return("a"); }}}`, 1, 1, "conditional block needs at least one if(...)"},
		"block without return":   {`{{{ if(incident.urgency==high) return("a"); }}}`, 1, 1, "conditional block needs a stand-alone return(...) as the fallback"},
		"two returns":            {`{{{ if(incident.urgency==high) return("a"); return("b"); return("c"); }}}`, 1, 58, "more than one stand-alone return(...)"},
		"if after fallback":      {`{{{ return("b"); if(incident.urgency==high) return("a"); }}}`, 1, 18, "if(...) after the stand-alone return(...) is never reached"},
		"unclosed return paren":  {`{{{ if(incident.urgency==high) return("a"; return("b"); }}}`, 1, 38, "unclosed ( of return"},
		"unclosed if paren":      {`{{{ if(incident.urgency==high return("a"); return("b"); }}}`, 1, 7, "unclosed ( of if"},
		"if without paren":       {`{{{ if incident.urgency==high) return("a"); return("b"); }}}`, 1, 8, "malformed if: expected ( after if"},
		"if without operator":    {`{{{ if(incident.urgency=high) return("a"); return("b"); }}}`, 1, 24, "malformed if: expected == or != after incident.urgency"},
		"if without value":       {`{{{ if(incident.urgency== ) return("a"); return("b"); }}}`, 1, 27, "malformed if: expected a value after =="},
		"if without placeholder": {`{{{ if(==high) return("a"); return("b"); }}}`, 1, 8, "malformed if: expected a placeholder after if("},
		"if without return":      {`{{{ if(incident.urgency==high) "a"; return("b"); }}}`, 1, 32, "malformed if: expected return(...) after if(...)"},
		"if with junk":           {`{{{ if(incident.urgency==high x) return("a"); return("b"); }}}`, 1, 31, `malformed if: expected ) after the value, found 'x'`},
		"if unclosed quote":      {`{{{ if(incident.urgency=="high) return("a"); return("b"); }}}`, 1, 26, "malformed if: unclosed quote"},
		"if braces unclosed":     {`{{{ if({{incident.urgency==high) return("a"); return("b"); }}}`, 1, 26, "malformed if: expected }} after {{incident.urgency"},
		"impossible value":       {`{{{ if(incident.urgency==hgh) return("a"); return("b"); }}}`, 1, 26, `incident.urgency is never "hgh"; it is one of high, low`},
		"return without paren":   {`{{{ if(incident.urgency==high) return "a"; return("b"); }}}`, 1, 39, "malformed return: expected ( after return"},
		"missing semicolon":      {`{{{ if(incident.urgency==high) return("a") return("b"); }}}`, 1, 44, "expected ; or }}} after return(...)"},
		"unknown statement":      {`{{{ when(incident.urgency==high) return("a"); return("b"); }}}`, 1, 5, `expected if(...) or return(...) in conditional block, found 'w'`},
		"placeholder in braces":  {`{"a":{{{incident.title}}}}`, 1, 9, "expected if(...) or return(...)"},
		"nested block":           {`{{{ if(incident.urgency==high) return({{{ x }}}); return("b"); }}}`, 1, 39, "conditional blocks cannot be nested"},
		"unknown after escape":   {`\{{x}} {{bad}}`, 1, 10, "unknown placeholder bad"},
		"unclosed after escape":  {`\{{ {{incident.id`, 1, 5, "unclosed {{: expected }} after {{incident.id"},
		"odd run then unknown":   {"é\n x \\\\\\{{ü}} {{nope}}", 2, 15, "unknown placeholder nope"},
		"escape in return":       {`{{{ if(incident.urgency==high) return("\{{ {{incident.titel}}"); return("b"); }}}`, 1, 46, "unknown placeholder incident.titel; did you mean incident.title?"},
		"even run then unknown":  {`\\{{title}}`, 1, 5, "unknown placeholder title; did you mean incident.title?"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tmpl, errs := Parse(tc.src)
			if tmpl != nil || len(errs) == 0 {
				t.Fatalf("Parse(%q) succeeded", tc.src)
			}
			e := errs[0]
			if e.Line != tc.line || e.Column != tc.column || !strings.Contains(e.Message, tc.message) {
				t.Errorf("Parse(%q) first error = %q, want line %d, column %d: %q (all: %v)", tc.src, e.Error(), tc.line, tc.column, tc.message, errs)
			}
		})
	}
}

func TestParseReportsSeveralErrors(t *testing.T) {
	t.Parallel()
	src := "{{incident_id}} {{}}\n{{{ return(\"a\"); }}}\n{{{ if(incident.urgency==high) return(\"{{bad}}\"); return(x); return(y); }}}\n{{user"
	_, errs := Parse(src)
	want := []string{
		"line 1, column 3: unknown placeholder incident_id; did you mean incident.id?",
		"line 1, column 17: empty placeholder {{}}",
		"line 2, column 1: conditional block needs at least one if(...)",
		"line 3, column 42: unknown placeholder bad",
		"line 3, column 62: conditional block has more than one stand-alone return(...); exactly one is allowed, as the fallback",
		"line 4, column 1: unclosed {{: expected }} after {{user",
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(want))
	}
	for i, e := range errs {
		if e.Error() != want[i] {
			t.Errorf("error %d = %q, want %q", i, e.Error(), want[i])
		}
	}
}

func TestEscapedBraces(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		src, want string
		ct        ContentType
	}{
		"text":                    {ct: TEXT, src: `Reply with \{{name}} or \{{ incident.id }} for {{incident.id}}`, want: `Reply with {{name}} or {{ incident.id }} for INC-123`},
		"json string":             {ct: JSON, src: `{"text": "Hello \{{name}}", "id": "{{incident.id}}"}`, want: `{"text": "Hello {{name}}", "id": "INC-123"}`},
		"json even run":           {ct: JSON, src: `{"path": "C:\\{{incident.id}}"}`, want: `{"path": "C:\\INC-123"}`},
		"text even run":           {ct: TEXT, src: `\\\\{{incident.id}}`, want: `\\\\INC-123`},
		"odd run of three":        {ct: TEXT, src: `\\\{{x}}`, want: `\\{{x}}`},
		"odd run of five":         {ct: JSON, src: `{"a": "\\\\\{{x}}"}`, want: `{"a": "\\\\{{x}}"}`},
		"escaped block":           {ct: TEXT, src: `\{{{ if(incident.urgency==high) return("a"); return("b"); }}}`, want: `{{{ if(incident.urgency==high) return("a"); return("b"); }}}`},
		"escape in return":        {ct: JSON, src: `{"a": {{{ if(incident.urgency==high) return("\{{incident.id}} is {{incident.id}}"); return("none"); }}}}`, want: `{"a": "{{incident.id}} is INC-123"}`},
		"escaped block in return": {ct: TEXT, src: `{{{ if(incident.urgency==high) return(\{{{ x }}}); return(b); }}}`, want: `{{{ x }}}`},
		"escape in fallback":      {ct: TEXT, src: `{{{ if(incident.urgency==low) return(a); return(\\\{{user}} {{user}}); }}}`, want: `\\{{user}} Prometheus`},
		"after the pair":          {ct: TEXT, src: `\{{{{incident.id}}`, want: `{{INC-123`},
		"consecutive":             {ct: TEXT, src: `\{{\{{\{{`, want: `{{{{{{`},
		"unknown name":            {ct: TEXT, src: `\{{title}}`, want: `{{title}}`},
		"unclosed":                {ct: TEXT, src: "a\\{{incident.id\n", want: "a{{incident.id\n"},
		"only braces":             {ct: TEXT, src: `\{{`, want: `{{`},
		"lone backslashes":        {ct: TEXT, src: `a\b\{c\}}\`, want: `a\b\{c\}}\`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := testData()
			tmpl := mustParse(t, tc.src)
			body, _ := RenderBody(tmpl, &d, tc.ct)
			if string(body) != tc.want {
				t.Errorf("Parse(%q) rendered %q, want %q", tc.src, body, tc.want)
			}
			if tc.ct == JSON && !json.Valid(body) {
				t.Errorf("not valid JSON: %s", body)
			}
			if tc.ct != TEXT {
				return
			}
			// Query-parameter values are rendered as TEXT and URL-encoded once.
			if q, _ := QueryString([]QueryParam{{Name: "q", Value: tmpl}}, &d); q != "q="+url.QueryEscape(tc.want) {
				t.Errorf("query %q, want %q", q, "q="+url.QueryEscape(tc.want))
			}
		})
	}
}

func TestEscapedBracesJSONValues(t *testing.T) {
	t.Parallel()
	src := `{"path": "C:\\{{incident.id}}", "hint": "use \{{incident.id}}", "odd": "\\\{{x}}"}`
	d := testData()
	body, _ := RenderBody(mustParse(t, src), &d, JSON)
	var got map[string]string
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	want := map[string]string{"path": `C:\INC-123`, "hint": "use {{incident.id}}", "odd": `\{{x}}`}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestEscapedBracesQuery(t *testing.T) {
	t.Parallel()
	d := testData()
	params := []QueryParam{{Name: "tpl", Value: mustParse(t, `\{{incident.id}}={{incident.id}}`)}}
	q, cut := QueryString(params, &d)
	if want := "tpl=%7B%7Bincident.id%7D%7D%3DINC-123"; q != want || cut {
		t.Fatalf("got %q (cut %v), want %q", q, cut, want)
	}
	if vals, err := url.ParseQuery(q); err != nil || vals.Get("tpl") != "{{incident.id}}=INC-123" {
		t.Errorf("decoded %v, %v", vals, err)
	}
}

// TestRenderAllocs keeps rendering into a reused buffer free of allocations, escapes included.
func TestRenderAllocs(t *testing.T) {
	d := testData()
	for _, src := range []string{seedPayload, `{"a": "\{{x}} {{incident.title}} \\{{incident.id}}", "b": {{{ if(incident.urgency==high) return("\{{y}}"); return(0); }}}}`} {
		tmpl := mustParse(t, src)
		params := []QueryParam{{Name: "q", Value: tmpl}}
		buf := make([]byte, 0, 1024)
		for _, ct := range []ContentType{JSON, TEXT} {
			if n := testing.AllocsPerRun(100, func() { buf = tmpl.AppendRender(buf[:0], &d, ct) }); n != 0 {
				t.Errorf("%s render of %q: %v allocations", ct, src, n)
			}
		}
		if n := testing.AllocsPerRun(100, func() { buf = AppendQuery(buf[:0], params, &d) }); n != 0 {
			t.Errorf("query of %q: %v allocations", src, n)
		}
	}
}

func TestEscaping(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, want string }{
		"quotes":          {`say "hi"`, `say "hi"`},
		"backslashes":     {`C:\temp\`, `C:\temp\`},
		"newlines":        {"a\nb\r\nc\td", "a\nb\r\nc\td"},
		"controls":        {"\x00\x01\x1f\x7f", "\x00\x01\x1f\x7f"},
		"line separators": {"a\u2028b\u2029c", "a\u2028b\u2029c"},
		"invalid utf8":    {"a\xffb\xc3", "a\ufffdb\ufffd"},
		"unicode":         {"naïve 日本 🚨", "naïve 日本 🚨"},
	}
	tmpl := mustParse(t, `{"title": "{{incident.title}}", "user": "{{user}}"}`)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := testData()
			d.Incident.Title, d.User = tc.in, tc.in
			body, _ := RenderBody(tmpl, &d, JSON)
			var got struct{ Title, User string }
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if got.Title != tc.want || got.User != tc.want {
				t.Errorf("round trip of %q = %q", tc.in, got.Title)
			}
			if strings.ContainsAny(string(body), "\u2028\u2029") {
				t.Errorf("raw line separator in %q", body)
			}
			text, _ := RenderBody(tmpl, &d, TEXT)
			if !strings.Contains(string(text), tc.in) {
				t.Errorf("TEXT content changed the value: %q", text)
			}
		})
	}
}

func TestTimestampIsUTC(t *testing.T) {
	t.Parallel()
	d := testData()
	d.Timestamp = time.Date(2026, 11, 22, 10, 5, 59, 0, time.FixedZone("CET", 3600))
	body, _ := RenderBody(mustParse(t, "{{timestamp}}"), &d, TEXT)
	if string(body) != "2026-11-22T09:05Z" {
		t.Errorf("got %s", body)
	}
}

func TestRenderBodyLimit(t *testing.T) {
	t.Parallel()
	d := testData()
	d.Incident.Description = strings.Repeat("é", MaxBodyChars)
	body, cut := RenderBody(mustParse(t, "x{{incident.description}}"), &d, TEXT)
	if !cut || utf8.RuneCount(body) != MaxBodyChars || !utf8.Valid(body) {
		t.Errorf("cut %v, %d characters, valid %v", cut, utf8.RuneCount(body), utf8.Valid(body))
	}
	d.Incident.Description = strings.Repeat("é", MaxBodyChars-1)
	if body, cut = RenderBody(mustParse(t, "x{{incident.description}}"), &d, TEXT); cut || utf8.RuneCount(body) != MaxBodyChars {
		t.Errorf("exactly %d characters: cut %v", MaxBodyChars, cut)
	}
}

func TestEnvelope(t *testing.T) {
	t.Parallel()
	d := testData()
	d.Incident.Title = "quote \" backslash \\ \u2028"
	body := Envelope(&d, []KV{{"event", "spoofed"}, {"env", "prod"}, {"env", "dup"}, {`odd "key"`, "v\n"}})
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if got["event"] != "incident.created" || got["env"] != "prod" || got[`odd "key"`] != "v\n" {
		t.Errorf("top level: %v", got)
	}
	if strings.Count(string(body), `"env"`) != 1 {
		t.Errorf("duplicate key in %s", body)
	}
	inc := got["incident"].(map[string]any)
	if inc["title"] != d.Incident.Title || inc["urgency"] != "HIGH" || inc["assignee"] != nil || inc["resolvedAt"] != nil || inc["createdAt"] != "2026-11-22T08:35:42Z" {
		t.Errorf("incident: %v", inc)
	}
}

func TestEnvelopeBodyLimit(t *testing.T) {
	t.Parallel()
	d := testData()
	d.Incident.Description = strings.Repeat(`"é\`, MaxBodyChars)
	body, cut := EnvelopeBody(&d, nil)
	if !cut || utf8.RuneCount(body) > MaxBodyChars || !json.Valid(body) {
		t.Fatalf("cut %v, %d characters, valid %v", cut, utf8.RuneCount(body), json.Valid(body))
	}
	if utf8.RuneCount(body) < MaxBodyChars-2 {
		t.Errorf("cut too much: %d characters", utf8.RuneCount(body))
	}
	d.Incident.Title = strings.Repeat("t", MaxBodyChars)
	if body, cut = EnvelopeBody(&d, nil); !cut || utf8.RuneCount(body) != MaxBodyChars {
		t.Errorf("oversized title: cut %v, %d characters", cut, utf8.RuneCount(body))
	}
}

func TestQueryString(t *testing.T) {
	t.Parallel()
	d := testData()
	d.Incident.Title = "a b&c=d%e+f/é"
	q, cut := QueryString([]QueryParam{{Name: "t", Value: mustParse(t, "{{incident.title}}")}}, &d)
	if cut || q != "t="+url.QueryEscape(d.Incident.Title) {
		t.Errorf("got %q", q)
	}
	vals, err := url.ParseQuery(q)
	if err != nil || vals.Get("t") != d.Incident.Title {
		t.Errorf("decoded %v, %v", vals, err)
	}
}

func TestQueryStringLimit(t *testing.T) {
	t.Parallel()
	for _, title := range []string{strings.Repeat("é", 4000), strings.Repeat("🚨", 3000), strings.Repeat("%", 4000), strings.Repeat("ab%", 3000)} {
		for pad := range 12 {
			d := testData()
			d.Incident.Title = title
			q, cut := QueryString([]QueryParam{{Name: strings.Repeat("n", pad+1), Value: mustParse(t, "{{incident.title}}")}}, &d)
			if !cut || len(q) > MaxQueryChars || len(q) < MaxQueryChars-12 {
				t.Fatalf("cut %v, length %d", cut, len(q))
			}
			vals, err := url.ParseQuery(q)
			if err != nil {
				t.Fatalf("pad %d: %v (tail %q)", pad, err, q[len(q)-10:])
			}
			if v := vals.Get(strings.Repeat("n", pad+1)); !utf8.ValidString(v) || !strings.HasPrefix(title, v) {
				t.Fatalf("pad %d: decoded value is not a prefix of the title", pad)
			}
		}
	}
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	cat := Catalog("incident.acknowledged")
	if len(cat) != int(fieldCount-1) {
		t.Fatalf("%d placeholders", len(cat))
	}
	byName := map[string]Placeholder{}
	for _, p := range cat {
		if p.Description == "" {
			t.Errorf("%s has no description", p.Name)
		}
		if _, errs := Parse("{{" + p.Name + "}}"); errs != nil {
			t.Errorf("%s does not parse: %v", p.Name, errs)
		}
		byName[p.Name] = p
	}
	checks := map[string]string{
		"incident.status":  "acknowledged",
		"incident.urgency": "high",
		"webhook.event":    "incident.acknowledged",
		"timestamp":        "2026-11-22T09:05Z",
	}
	for name, want := range checks {
		if got := byName[name].Example; got != want {
			t.Errorf("%s example = %q, want %q", name, got, want)
		}
	}
	if v := byName["webhook.event"].Values; len(v) != 5 || v[4] != "incident.reassigned" {
		t.Errorf("webhook.event values %v", v)
	}
	if got := Catalog("nonsense")[0].Example; got != "INC-42" {
		t.Errorf("unknown event example %q", got)
	}
}

func TestSampleEvents(t *testing.T) {
	t.Parallel()
	for _, ev := range events {
		d := Sample(ev, clock)
		if d.Event != ev || !json.Valid(Envelope(&d, nil)) {
			t.Errorf("%s: sample %+v", ev, d)
		}
	}
}

func TestPreview(t *testing.T) {
	t.Parallel()
	d := testData()
	tests := map[string]struct {
		in        PreviewInput
		errors    int
		warnings  []string
		validJSON *bool
		truncated bool
	}{
		"seed payload": {in: PreviewInput{BodyTemplate: seedPayload, ContentType: JSON}, validJSON: ptr(true)},
		"bare placeholder": {
			in:        PreviewInput{BodyTemplate: `{"a": {{incident.title}}}`, ContentType: JSON},
			warnings:  []string{"line 1, column 7: {{incident.title}} is outside a JSON string", "the rendered body is not valid JSON"},
			validJSON: ptr(false),
		},
		"placeholder in quoted return": {in: PreviewInput{BodyTemplate: `{"a": {{{ if(incident.urgency==high) return("{{incident.title}}"); return(null); }}}}`, ContentType: JSON}, validJSON: ptr(true)},
		"placeholder in bare return": {
			in:        PreviewInput{BodyTemplate: `{"a": {{{ if(incident.urgency==high) return({{incident.id}}); return(null); }}}}`, ContentType: JSON},
			warnings:  []string{"line 1, column 45: {{incident.id}} is outside a JSON string", "not valid JSON"},
			validJSON: ptr(false),
		},
		"unbalanced return": {
			in:        PreviewInput{BodyTemplate: `{"a": "{{{ if(incident.urgency==low) return(x"); return(y); }}}"}`, ContentType: JSON},
			warnings:  []string{"line 1, column 12: the return text of this if opens or closes a JSON string"},
			validJSON: ptr(true),
		},
		"warnings in the order found": {
			in: PreviewInput{BodyTemplate: `{"a": {{{ if(incident.urgency==low) return({{user}} x"); return(y); }}}}`, ContentType: JSON},
			warnings: []string{"line 1, column 44: {{user}} is outside a JSON string",
				"line 1, column 11: the return text of this if opens or closes a JSON string", "not valid JSON"},
			validJSON: ptr(false),
		},
		"text content":         {in: PreviewInput{BodyTemplate: `{{incident.title}}`, ContentType: TEXT}},
		"escaped placeholder":  {in: PreviewInput{BodyTemplate: `{"a": "\{{title}}", "b": \{{x}}}`, ContentType: JSON}, warnings: []string{"not valid JSON"}, validJSON: ptr(false)},
		"escape before string": {in: PreviewInput{BodyTemplate: `{"a": "C:\\{{incident.id}}", "b": "\{{x}}"}`, ContentType: JSON}, validJSON: ptr(true)},
		"escaped query value":  {in: PreviewInput{SendDataUsing: SendQueryParams, QueryParams: []KV{{"a", `\{{nope}}`}}}},
		"envelope":             {in: PreviewInput{ContentType: JSON, ExtraFields: []KV{{"k", "v"}}}, validJSON: ptr(true)},
		"errors":               {in: PreviewInput{BodyTemplate: `{{x}} {{y}}`, ContentType: JSON}, errors: 2},
		"truncated": {
			in:        PreviewInput{BodyTemplate: `"` + strings.Repeat("x", MaxBodyChars) + `"`, ContentType: JSON},
			warnings:  []string{"body cut at 20000 characters"},
			validJSON: ptr(false), truncated: true,
		},
		"query":        {in: PreviewInput{SendDataUsing: SendQueryParams, QueryParams: []KV{{"a", "{{incident.id}}"}}}},
		"query errors": {in: PreviewInput{SendDataUsing: SendQueryParams, QueryParams: []KV{{"a", "{{incident.id}}"}, {"b", "{{nope}}"}}}, errors: 1},
		"query truncated": {
			in:       PreviewInput{SendDataUsing: SendQueryParams, QueryParams: []KV{{"a", strings.Repeat("x", MaxQueryChars)}}},
			warnings: []string{"query string cut at 10000 characters"}, truncated: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := Preview(tc.in, &d)
			if len(res.Errors) != tc.errors {
				t.Fatalf("errors %v, want %d", res.Errors, tc.errors)
			}
			if tc.errors > 0 {
				if res.Body != nil || res.Query != nil {
					t.Error("rendered despite errors")
				}
				return
			}
			if (res.Body == nil) == (tc.in.SendDataUsing != SendQueryParams) || (res.Query == nil) == (tc.in.SendDataUsing == SendQueryParams) {
				t.Errorf("body %v, query %v", res.Body, res.Query)
			}
			if len(res.Warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %q", res.Warnings, tc.warnings)
			}
			for i, w := range tc.warnings {
				if !strings.Contains(res.Warnings[i], w) {
					t.Errorf("warning %q, want %q", res.Warnings[i], w)
				}
			}
			if (res.ValidJSON == nil) != (tc.validJSON == nil) || res.ValidJSON != nil && *res.ValidJSON != *tc.validJSON {
				t.Errorf("validJSON %v, want %v", res.ValidJSON, tc.validJSON)
			}
			if res.Truncated != tc.truncated {
				t.Errorf("truncated %v", res.Truncated)
			}
		})
	}
	res := Preview(PreviewInput{SendDataUsing: SendQueryParams, QueryParams: []KV{{"b", "x\n{{nope}}"}}}, &d)
	if res.Errors[0].Error() != `line 2, column 3: query parameter "b": unknown placeholder nope` {
		t.Errorf("query error %q", res.Errors[0].Error())
	}
}

func ptr[T any](v T) *T { return &v }

func TestCache(t *testing.T) {
	t.Parallel()
	c := NewCache(2)
	a1, _ := c.Get("wh1:1:body", "{{incident.id}}")
	a2, _ := c.Get("wh1:1:body", "{{incident.id}}")
	if a1 == nil || a1 != a2 {
		t.Fatal("second Get parsed again")
	}
	if b, _ := c.Get("wh1:1:body", "{{user}}"); b == a1 {
		t.Fatal("changed source served from cache")
	}
	if tmpl, errs := c.Get("wh2:1:body", "{{nope}}"); tmpl != nil || len(errs) != 1 {
		t.Fatalf("errors not returned: %v", errs)
	}
	c.Get("wh3:1:body", "x")
	if c.Len() != 2 {
		t.Fatalf("len %d, want 2", c.Len())
	}
	if b, _ := c.Get("wh1:1:body", "{{user}}"); b == nil {
		t.Fatal("nil template")
	}

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			d := testData()
			var buf []byte
			for i := range 200 {
				key := string(rune('a'+(g+i)%5)) + ":body"
				tmpl, errs := c.Get(key, seedPayload)
				if errs != nil {
					t.Error(errs)
					return
				}
				buf = tmpl.AppendRender(buf[:0], &d, JSON)
			}
		})
	}
	wg.Wait()
}
