package models_test

import (
	"testing"

	"github.com/herald-hq/herald/models"
)

func TestFilterMatches(t *testing.T) {
	t.Parallel()
	subj := models.FilterSubject{ServiceID: "svc-1", ServiceName: "Checkout", AlertSource: "Prometheus", Urgency: models.UrgencyHigh}
	cond := func(field, op, value string) models.Condition {
		return models.Condition{Field: field, Operator: op, Value: value}
	}
	tests := map[string]struct {
		f    *models.Filter
		want bool
	}{
		"nil":                   {nil, true},
		"empty group":           {&models.Filter{Join: models.FilterAnd}, true},
		"service id":            {&models.Filter{Join: models.FilterAnd, Conditions: []models.Condition{cond(models.FilterService, models.FilterIs, "svc-1")}}, true},
		"service name":          {&models.Filter{Join: models.FilterAnd, Conditions: []models.Condition{cond(models.FilterService, models.FilterIs, "checkout")}}, true},
		"other service":         {&models.Filter{Join: models.FilterAnd, Conditions: []models.Condition{cond(models.FilterService, models.FilterIs, "svc-2")}}, false},
		"service is not":        {&models.Filter{Join: models.FilterAnd, Conditions: []models.Condition{cond(models.FilterService, models.FilterIsNot, "svc-2")}}, true},
		"source":                {&models.Filter{Join: models.FilterAnd, Conditions: []models.Condition{cond(models.FilterAlertSource, models.FilterIs, "PROMETHEUS")}}, true},
		"source is not":         {&models.Filter{Join: models.FilterAnd, Conditions: []models.Condition{cond(models.FilterAlertSource, models.FilterIsNot, "prometheus")}}, false},
		"urgency":               {&models.Filter{Join: models.FilterAnd, Conditions: []models.Condition{cond(models.FilterUrgency, models.FilterIs, "high")}}, true},
		"urgency low":           {&models.Filter{Join: models.FilterAnd, Conditions: []models.Condition{cond(models.FilterUrgency, models.FilterIs, "LOW")}}, false},
		"and one fails":         {&models.Filter{Join: models.FilterAnd, Conditions: []models.Condition{cond(models.FilterUrgency, models.FilterIs, "HIGH"), cond(models.FilterAlertSource, models.FilterIs, "Grafana")}}, false},
		"or one matches":        {&models.Filter{Join: models.FilterOr, Conditions: []models.Condition{cond(models.FilterUrgency, models.FilterIs, "LOW"), cond(models.FilterAlertSource, models.FilterIs, "Prometheus")}}, true},
		"or none":               {&models.Filter{Join: models.FilterOr, Conditions: []models.Condition{cond(models.FilterUrgency, models.FilterIs, "LOW"), cond(models.FilterAlertSource, models.FilterIs, "Grafana")}}, false},
		"unknown field":         {&models.Filter{Join: models.FilterAnd, Conditions: []models.Condition{cond("TEAM", models.FilterIs, "x")}}, false},
		"unknown operator":      {&models.Filter{Join: models.FilterAnd, Conditions: []models.Condition{cond(models.FilterUrgency, "LIKE", "HIGH")}}, false},
		"empty source is empty": {&models.Filter{Join: models.FilterAnd, Conditions: []models.Condition{cond(models.FilterAlertSource, models.FilterIs, "")}}, false},
		"nested and in or": {&models.Filter{Join: models.FilterOr,
			Conditions: []models.Condition{cond(models.FilterUrgency, models.FilterIs, "LOW")},
			Groups: []*models.Filter{{Join: models.FilterAnd, Conditions: []models.Condition{
				cond(models.FilterService, models.FilterIs, "Checkout"), cond(models.FilterAlertSource, models.FilterIsNot, "Grafana")}}}}, true},
		"nested group fails and": {&models.Filter{Join: models.FilterAnd,
			Conditions: []models.Condition{cond(models.FilterUrgency, models.FilterIs, "HIGH")},
			Groups: []*models.Filter{{Join: models.FilterOr, Conditions: []models.Condition{
				cond(models.FilterService, models.FilterIs, "Billing"), cond(models.FilterAlertSource, models.FilterIs, "Grafana")}}}}, false},
		"deep nesting": {&models.Filter{Join: models.FilterAnd, Groups: []*models.Filter{{Join: models.FilterOr, Groups: []*models.Filter{{
			Join: models.FilterAnd, Conditions: []models.Condition{cond(models.FilterAlertSource, models.FilterIs, "prometheus")}}}}}}, true},
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
