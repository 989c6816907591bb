package render

import (
	"slices"
	"time"
)

// field identifies one placeholder; the zero value is no placeholder.
type field uint8

const (
	fieldNone field = iota
	fieldIncidentID
	fieldIncidentTitle
	fieldIncidentDescription
	fieldIncidentUrgency
	fieldIncidentStatus
	fieldIncidentMappedWith
	fieldIncidentURL
	fieldIncidentAlertSource
	fieldIncidentServiceID
	fieldIncidentServiceName
	fieldIncidentTeamID
	fieldIncidentTeamName
	fieldIncidentAssignee
	fieldIncidentCreatedAt
	fieldWebhookID
	fieldWebhookEvent
	fieldDeliveryID
	fieldUser
	fieldTimestamp
	fieldCount
)

// events lists the wire names of the events, in SPEC order.
var events = []string{
	"incident.created",
	"incident.acknowledged",
	"incident.unacknowledged",
	"incident.resolved",
	"incident.reassigned",
}

// fieldInfo describes a placeholder. values lists the only values an enumerated placeholder
// renders; conditions on it compare case-insensitively and are checked against the list.
type fieldInfo struct {
	name, description string
	values            []string
}

var fieldInfos = [fieldCount]fieldInfo{
	fieldIncidentID:          {name: "incident.id", description: "Id of the incident"},
	fieldIncidentTitle:       {name: "incident.title", description: "Title of the incident"},
	fieldIncidentDescription: {name: "incident.description", description: "Description of the incident"},
	fieldIncidentUrgency:     {name: "incident.urgency", description: "Urgency of the incident", values: []string{"high", "low"}},
	fieldIncidentStatus:      {name: "incident.status", description: "Status of the incident", values: []string{"triggered", "acknowledged", "resolved"}},
	fieldIncidentMappedWith:  {name: "incident.mapped_with", description: "Value used to map alerts to the incident when it was created"},
	fieldIncidentURL:         {name: "incident.url", description: "URL of the incident in Herald"},
	fieldIncidentAlertSource: {name: "incident.alert_source", description: "Alert source (the from parameter of the incoming API)"},
	fieldIncidentServiceID:   {name: "incident.service.id", description: "Id of the incident's service"},
	fieldIncidentServiceName: {name: "incident.service.name", description: "Name of the incident's service"},
	fieldIncidentTeamID:      {name: "incident.team.id", description: "Id of the team owning the service"},
	fieldIncidentTeamName:    {name: "incident.team.name", description: "Name of the team owning the service"},
	fieldIncidentAssignee:    {name: "incident.assignee", description: "Name of the assignee, empty if none"},
	fieldIncidentCreatedAt:   {name: "incident.created_at", description: "When the incident was created (UTC, yyyy-MM-ddTHH:mmZ)"},
	fieldWebhookID:           {name: "webhook.id", description: "Id of the webhook"},
	fieldWebhookEvent:        {name: "webhook.event", description: "Event that caused the delivery", values: events},
	fieldDeliveryID:          {name: "delivery.id", description: "Id of the delivery, the same on every attempt"},
	fieldUser:                {name: "user", description: "User related with the event, or the integration that created the incident"},
	fieldTimestamp:           {name: "timestamp", description: "When the webhook is sent (UTC, yyyy-MM-ddTHH:mmZ); a retry carries its own"},
}

// fieldByName maps a placeholder name to its field.
var fieldByName = func() map[string]field {
	m := make(map[string]field, fieldCount)
	for f := fieldNone + 1; f < fieldCount; f++ {
		m[fieldInfos[f].name] = f
	}
	return m
}()

// Placeholder describes one placeholder for the dashboard's helper (GraphQL placeholders).
type Placeholder struct {
	Name        string   // as written between the braces, e.g. "incident.title"
	Description string   // one line for humans
	Example     string   // the value rendered for the built-in sample incident
	Values      []string // every possible value of an enumerated placeholder, else nil
}

// catalogTime is the clock of the examples in Catalog (the one of SPEC §5).
var catalogTime = time.Date(2026, 11, 22, 9, 5, 0, 0, time.UTC)

// Catalog lists every placeholder with a description and its value for the sample incident of
// event (an unknown or empty event is treated as incident.created).
func Catalog(event string) []Placeholder {
	d := Sample(event, catalogTime)
	out := make([]Placeholder, 0, fieldCount-1)
	for f := fieldNone + 1; f < fieldCount; f++ {
		fi := &fieldInfos[f]
		p := Placeholder{Name: fi.name, Description: fi.description, Example: string(appendField(nil, f, &d, TEXT))}
		if fi.values != nil {
			p.Values = append([]string(nil), fi.values...)
		}
		out = append(out, p)
	}
	return out
}

// SampleWebhookID is the webhook id of the built-in sample: what {{webhook.id}} renders where no
// saved webhook is involved (a preview without one, a test of an unsaved webhook, the
// placeholders' examples).
const SampleWebhookID = "wh_sample_01"

// Sample returns the built-in sample incident used for previews of event, sent now (the
// Timestamp) with the event a moment before. Unknown or empty events are treated as incident.created. The incident URL points at
// herald.example.com; callers that know HERALD_BASE_URL may replace it.
func Sample(event string, now time.Time) Data {
	if !slices.Contains(events, event) {
		event = events[0]
	}
	now = now.UTC()
	created := now.Add(-7 * time.Minute)
	d := Data{
		Event:      event,
		DeliveryID: "dlv_sample_01",
		WebhookID:  SampleWebhookID,
		Timestamp:  now,
		User:       "Ada Lovelace",
		Incident: Incident{
			ID:          "INC-42",
			Title:       "prometheus - HighErrorRate",
			Description: "Error rate of payments-api is 7.3% (threshold 5%) for 5 minutes.",
			Urgency:     "HIGH",
			Status:      "TRIGGERED",
			MappedWith:  "{}:{alertname=\"HighErrorRate\"}",
			URL:         "https://herald.example.com/incidents/INC-42",
			AlertSource: "prometheus",
			ServiceID:   "svc_payments",
			ServiceName: "Payments API",
			TeamID:      "team_core",
			TeamName:    "Core Platform",
			Assignee:    "Grace Hopper",
			CreatedAt:   created,
		},
	}
	switch event {
	case "incident.created":
		d.User = "Alertmanager"
	case "incident.acknowledged":
		d.Incident.Status = "ACKNOWLEDGED"
		d.Incident.AcknowledgedAt = &now
	case "incident.resolved":
		ack := created.Add(2 * time.Minute)
		d.Incident.Status = "RESOLVED"
		d.Incident.AcknowledgedAt = &ack
		d.Incident.ResolvedAt = &now
	case "incident.reassigned":
		d.Incident.Assignee = "Ada Lovelace"
		d.User = "Grace Hopper"
	}
	return d
}
