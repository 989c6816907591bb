package webhook_test

import (
	"testing"

	"github.com/herald-hq/herald/models/webhook"
)

func TestFilterMatches(t *testing.T) {
	t.Parallel()
	subj := webhook.FilterSubject{ServiceID: "svc-1", ServiceName: "Checkout", AlertSource: "Prometheus", Urgency: webhook.UrgencyHigh}
	cond := func(field, op, value string) webhook.Condition {
		return webhook.Condition{Field: field, Operator: op, Value: value}
	}
	tests := map[string]struct {
		f    *webhook.Filter
		want bool
	}{
		"nil":                   {nil, true},
		"empty group":           {&webhook.Filter{Join: webhook.FilterAnd}, true},
		"service id":            {&webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{cond(webhook.FilterService, webhook.FilterIs, "svc-1")}}, true},
		"service name":          {&webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{cond(webhook.FilterService, webhook.FilterIs, "checkout")}}, true},
		"other service":         {&webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{cond(webhook.FilterService, webhook.FilterIs, "svc-2")}}, false},
		"service is not":        {&webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{cond(webhook.FilterService, webhook.FilterIsNot, "svc-2")}}, true},
		"source":                {&webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{cond(webhook.FilterAlertSource, webhook.FilterIs, "PROMETHEUS")}}, true},
		"source is not":         {&webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{cond(webhook.FilterAlertSource, webhook.FilterIsNot, "prometheus")}}, false},
		"urgency":               {&webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{cond(webhook.FilterUrgency, webhook.FilterIs, "high")}}, true},
		"urgency low":           {&webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{cond(webhook.FilterUrgency, webhook.FilterIs, "LOW")}}, false},
		"and one fails":         {&webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{cond(webhook.FilterUrgency, webhook.FilterIs, "HIGH"), cond(webhook.FilterAlertSource, webhook.FilterIs, "Grafana")}}, false},
		"or one matches":        {&webhook.Filter{Join: webhook.FilterOr, Conditions: []webhook.Condition{cond(webhook.FilterUrgency, webhook.FilterIs, "LOW"), cond(webhook.FilterAlertSource, webhook.FilterIs, "Prometheus")}}, true},
		"or none":               {&webhook.Filter{Join: webhook.FilterOr, Conditions: []webhook.Condition{cond(webhook.FilterUrgency, webhook.FilterIs, "LOW"), cond(webhook.FilterAlertSource, webhook.FilterIs, "Grafana")}}, false},
		"unknown field":         {&webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{cond("TEAM", webhook.FilterIs, "x")}}, false},
		"unknown operator":      {&webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{cond(webhook.FilterUrgency, "LIKE", "HIGH")}}, false},
		"empty source is empty": {&webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{cond(webhook.FilterAlertSource, webhook.FilterIs, "")}}, false},
		"nested and in or": {&webhook.Filter{Join: webhook.FilterOr,
			Conditions: []webhook.Condition{cond(webhook.FilterUrgency, webhook.FilterIs, "LOW")},
			Groups: []*webhook.Filter{{Join: webhook.FilterAnd, Conditions: []webhook.Condition{
				cond(webhook.FilterService, webhook.FilterIs, "Checkout"), cond(webhook.FilterAlertSource, webhook.FilterIsNot, "Grafana")}}}}, true},
		"nested group fails and": {&webhook.Filter{Join: webhook.FilterAnd,
			Conditions: []webhook.Condition{cond(webhook.FilterUrgency, webhook.FilterIs, "HIGH")},
			Groups: []*webhook.Filter{{Join: webhook.FilterOr, Conditions: []webhook.Condition{
				cond(webhook.FilterService, webhook.FilterIs, "Billing"), cond(webhook.FilterAlertSource, webhook.FilterIs, "Grafana")}}}}, false},
		"deep nesting": {&webhook.Filter{Join: webhook.FilterAnd, Groups: []*webhook.Filter{{Join: webhook.FilterOr, Groups: []*webhook.Filter{{
			Join: webhook.FilterAnd, Conditions: []webhook.Condition{cond(webhook.FilterAlertSource, webhook.FilterIs, "prometheus")}}}}}}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.f.Matches(subj); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
}
