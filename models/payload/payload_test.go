package payload_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/payload"
	"github.com/herald-hq/herald/models/webhook"
)

func TestTitle(t *testing.T) {
	t.Parallel()
	f := payload.APIFilter{TitleKey: "commonLabels.alertname"}
	am := []byte(`{"commonLabels":{"alertname":"HighLatency"},"status":"firing"}`)
	tests := map[string]struct {
		lang, from string
		payload    []byte
		filter     payload.APIFilter
		want       string
	}{
		"key with source":         {"en", "Prometheus", am, f, "Prometheus - HighLatency"},
		"key without source":      {"en", "", am, f, "HighLatency"},
		"key missing":             {"en", "Prometheus", []byte(`{"x":1}`), f, "Incident from Prometheus"},
		"key missing no source":   {"en", "", []byte(`{"x":1}`), f, "Incident from unknown source"},
		"not json":                {"en", "Zabbix", []byte(`PROBLEM: disk full`), f, "Incident from Zabbix"},
		"no title key":            {"en", "Zabbix", am, payload.APIFilter{}, "Incident from Zabbix"},
		"blank value":             {"en", "Zabbix", []byte(`{"commonLabels":{"alertname":"  "}}`), f, "Incident from Zabbix"},
		"number value":            {"en", "", []byte(`{"commonLabels":{"alertname":42}}`), f, "42"},
		"german":                  {"de", "Prometheus", nil, f, "Vorfall von Prometheus"},
		"german unknown":          {"de", "", nil, f, "Vorfall aus unbekannter Quelle"},
		"japanese":                {"ja", "Grafana", nil, f, "Grafana からのインシデント"},
		"unknown language is en":  {"xx", "", nil, f, "Incident from unknown source"},
		"language case":           {"FR", "", nil, f, "Incident de source inconnue"},
		"gjson query":             {"en", "", []byte(`{"alerts":[{"s":"ok","n":"a"},{"s":"bad","n":"b"}]}`), payload.APIFilter{TitleKey: `alerts.#(s=="bad").n`}, "b"},
		"empty payload":           {"en", "", []byte{}, f, "Incident from unknown source"},
		"invalid utf8 in value":   {"en", "", []byte("{\"commonLabels\":{\"alertname\":\"a\xffb\"}}"), f, "a\uFFFDb"},
		"surrounding space value": {"en", "", []byte(`{"commonLabels":{"alertname":"  Disk "}}`), f, "Disk"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := payload.Title(tc.lang, tc.from, tc.payload, tc.filter); got != tc.want {
				t.Errorf("Title = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTitleTruncated(t *testing.T) {
	t.Parallel()
	p := []byte(`{"t":"` + strings.Repeat("é", 2000) + `"}`)
	got := payload.Title("en", "src", p, payload.APIFilter{TitleKey: "t"})
	if n := len([]rune(got)); n != 500 || !strings.HasSuffix(got, "…") {
		t.Errorf("title has %d runes (%q…), want 500 ending with an ellipsis", n, got[:20])
	}
}

func TestDescription(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		payload []byte
		key     string
		want    string
	}{
		"key found":       {[]byte(`{"d":"disk full"}`), "d", "disk full"},
		"object value":    {[]byte(`{"d":{"a":1}}`), "d", `{"a":1}`},
		"key missing":     {[]byte(`{"x":"y"}`), "d", `{"x":"y"}`},
		"no key":          {[]byte(`{"d":"disk full"}`), "", `{"d":"disk full"}`},
		"not json":        {[]byte("plain text\nalert"), "d", "plain text\nalert"},
		"nul byte":        {[]byte("a\x00b"), "", "ab"},
		"invalid utf8":    {[]byte("a\xffb"), "", "a\uFFFDb"},
		"truncated json":  {[]byte(`{"d":"x"`), "d", `{"d":"x"`},
		"annotation path": {[]byte(`{"commonAnnotations":{"summary":"S"}}`), "commonAnnotations.summary", "S"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := payload.Description(tc.payload, payload.APIFilter{DescriptionKey: tc.key}); got != tc.want {
				t.Errorf("Description = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUrgency(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		payload, key, want string
	}{
		"low":            {`{"u":"low"}`, "u", webhook.UrgencyLow},
		"LOW":            {`{"u":" LOW "}`, "u", webhook.UrgencyLow},
		"high":           {`{"u":"High"}`, "u", webhook.UrgencyHigh},
		"other is high":  {`{"u":"warning"}`, "u", webhook.UrgencyHigh},
		"missing":        {`{}`, "u", webhook.UrgencyHigh},
		"no key":         {`{"u":"low"}`, "", webhook.UrgencyHigh},
		"not json":       {`low`, "u", webhook.UrgencyHigh},
		"nested":         {`{"commonLabels":{"severity":"low"}}`, "commonLabels.severity", webhook.UrgencyLow},
		"number ignored": {`{"u":1}`, "u", webhook.UrgencyHigh},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := payload.Urgency([]byte(tc.payload), payload.APIFilter{UrgencyKey: tc.key}); got != tc.want {
				t.Errorf("Urgency = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIngestMappingAndMatches(t *testing.T) {
	t.Parallel()
	p := []byte(`{"groupKey":"{}:{alertname=\"X\"}","status":"Resolved","n":3}`)
	if got := payload.MappingValue(p, payload.APIFilter{MappingKey: "groupKey"}); got != `{}:{alertname="X"}` {
		t.Errorf("mapping value = %q", got)
	}
	if got := payload.MappingValue(p, payload.APIFilter{MappingKey: "missing"}); got != "" {
		t.Errorf("missing mapping value = %q, want empty", got)
	}
	long := []byte(`{"k":"` + strings.Repeat("x", 300) + `"}`)
	if got := payload.MappingValue(long, payload.APIFilter{MappingKey: "k"}); !strings.HasPrefix(got, "sha256:") || len(got) != 71 {
		t.Errorf("long mapping value = %q, want a sha256 digest", got)
	}
	matches := map[string]struct {
		m    *payload.Match
		want bool
	}{
		"nil":              {nil, false},
		"case-insensitive": {&payload.Match{Key: "status", Value: "resolved"}, true},
		"other value":      {&payload.Match{Key: "status", Value: "firing"}, false},
		"missing key":      {&payload.Match{Key: "state", Value: "resolved"}, false},
		"number":           {&payload.Match{Key: "n", Value: "3"}, true},
	}
	for name, tc := range matches {
		if got := payload.Matches(p, tc.m); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", name, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		f     payload.APIFilter
		field string
	}{
		"empty":                   {payload.APIFilter{}, ""},
		"alertmanager":            {payload.APIFilter{TitleKey: "commonLabels.alertname", MappingKey: "groupKey", ResolveWhen: &payload.Match{Key: "status", Value: "resolved"}}, ""},
		"query":                   {payload.APIFilter{TitleKey: `alerts.#(labels.severity=="critical").labels.alertname`}, ""},
		"escaped dot":             {payload.APIFilter{TitleKey: `labels.app\.kubernetes\.io/name`}, ""},
		"array index":             {payload.APIFilter{DescriptionKey: "alerts.0.annotations.summary"}, ""},
		"double dot":              {payload.APIFilter{TitleKey: "a..b"}, "apiFilter.titleKey"},
		"leading dot":             {payload.APIFilter{DescriptionKey: ".a"}, "apiFilter.descriptionKey"},
		"trailing dot":            {payload.APIFilter{UrgencyKey: "a."}, "apiFilter.urgencyKey"},
		"blank":                   {payload.APIFilter{MappingKey: "   "}, "apiFilter.mappingKey"},
		"unbalanced":              {payload.APIFilter{TitleKey: "alerts.#(a==1"}, "apiFilter.titleKey"},
		"dangling escape":         {payload.APIFilter{TitleKey: `a\`}, "apiFilter.titleKey"},
		"control char":            {payload.APIFilter{TitleKey: "a\nb"}, "apiFilter.titleKey"},
		"too long":                {payload.APIFilter{TitleKey: strings.Repeat("a", 300)}, "apiFilter.titleKey"},
		"resolve without key":     {payload.APIFilter{ResolveWhen: &payload.Match{Value: "resolved"}}, "apiFilter.resolveWhen.key"},
		"resolve without val":     {payload.APIFilter{ResolveWhen: &payload.Match{Key: "status"}}, "apiFilter.resolveWhen.value"},
		"ack with bad key":        {payload.APIFilter{AcknowledgeWhen: &payload.Match{Key: "a..b", Value: "x"}}, "apiFilter.acknowledgeWhen.key"},
		"ack without value":       {payload.APIFilter{AcknowledgeWhen: &payload.Match{Key: "a", Value: " "}}, "apiFilter.acknowledgeWhen.value"},
		"unterminated quote":      {payload.APIFilter{TitleKey: `a.#(b=="c)`}, "apiFilter.titleKey"},
		"closing without open":    {payload.APIFilter{TitleKey: `a)`}, "apiFilter.titleKey"},
		"resolve without mapping": {payload.APIFilter{ResolveWhen: &payload.Match{Key: "status", Value: "resolved"}}, "apiFilter.mappingKey"},
		"ack without mapping":     {payload.APIFilter{AcknowledgeWhen: &payload.Match{Key: "status", Value: "ack"}}, "apiFilter.mappingKey"},
		"mapping without resolve": {payload.APIFilter{MappingKey: "groupKey"}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := payload.Validate(tc.f)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if de := models.DomainError(err); de == nil || de.Code != models.CodeValidation || de.Field != tc.field {
				t.Fatalf("Validate = %v, want VALIDATION on %s", err, tc.field)
			}
		})
	}
}

func TestLanguages(t *testing.T) {
	t.Parallel()
	langs := payload.Languages()
	if len(langs) < 12 {
		t.Fatalf("only %d languages", len(langs))
	}
	for _, want := range []string{"en", "de", "fr", "es", "it", "pt", "nl", "sv", "pl", "ja", "zh", "hi", "ru"} {
		if !slices.Contains(langs, want) || !payload.ValidLanguage(want) {
			t.Errorf("language %s missing", want)
		}
	}
	if payload.ValidLanguage("xx") || payload.ValidLanguage("") {
		t.Error("unknown languages must be refused")
	}
	for _, l := range langs {
		seen := map[string]bool{}
		for _, s := range []string{
			payload.GeneratedIncidentTitle(l, "Src"), payload.GeneratedIncidentTitle(l, ""),
			payload.GeneratedRequestTitle(l, "Src"), payload.GeneratedRequestTitle(l, ""),
		} {
			if s == "" || seen[s] || strings.Contains(s, "%") {
				t.Errorf("%s: bad or repeated title %q", l, s)
			}
			seen[s] = true
		}
		if !strings.Contains(payload.GeneratedIncidentTitle(l, "Src"), "Src") || !strings.Contains(payload.GeneratedRequestTitle(l, "Src"), "Src") {
			t.Errorf("%s: titles do not name the source", l)
		}
	}
	if got := payload.GeneratedRequestTitle("en", ""); got != "Request from unknown source" {
		t.Errorf("request title = %q", got)
	}
	if got := payload.GeneratedRequestTitle("en", "Jira"); got != "Request from Jira" {
		t.Errorf("request title = %q", got)
	}
}

func TestCleanSource(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"  Prometheus ":          "Prometheus",
		"a\r\nb":                 "ab",
		"":                       "",
		strings.Repeat("s", 300): strings.Repeat("s", 199) + "…",
	}
	for in, want := range tests {
		if got := payload.CleanSource(in); got != want {
			t.Errorf("CleanSource(%q) = %q, want %q", in, got, want)
		}
	}
}
