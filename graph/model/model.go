// Package model holds the GraphQL types. Types whose fields point at other objects keep the
// related ids and leave the objects to field resolvers, so that nothing is loaded that a query
// does not ask for. It must not hold behaviour: loading, authorising and mapping from the
// store's rows are package graph's.
package model

import (
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/herald-hq/herald/models"
)

// Team is a group of services and users.
type Team struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Service belongs to a team.
type Service struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	TeamID string `json:"-"`
}

// User is a person or automation with a role and API tokens.
type User struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Email *string `json:"email,omitempty"`
	Role  Role    `json:"role"`
}

// Webhook is an outgoing webhook as the API shows it: no stored secret appears here.
type Webhook struct {
	ID                       string         `json:"id"`
	Name                     string         `json:"name"`
	Description              *string        `json:"description,omitempty"`
	Scope                    WebhookScope   `json:"scope"`
	TeamID                   *string        `json:"-"`
	ServiceID                *string        `json:"-"`
	Events                   []WebhookEvent `json:"events"`
	Urls                     []string       `json:"urls"`
	Method                   HTTPMethod     `json:"method"`
	Auth                     *AuthInfo      `json:"auth"`
	Headers                  []*KeyValue    `json:"headers"`
	Signing                  *SigningInfo   `json:"signing"`
	SendDataUsing            SendDataUsing  `json:"sendDataUsing"`
	ContentType              ContentType    `json:"contentType"`
	BodyTemplate             *string        `json:"bodyTemplate,omitempty"`
	QueryParams              []*KeyValue    `json:"queryParams"`
	ExtraFields              []*KeyValue    `json:"extraFields"`
	RetryCount               int            `json:"retryCount"`
	RetryIntervalMinutes     int            `json:"retryIntervalMinutes"`
	TimeoutSeconds           int            `json:"timeoutSeconds"`
	FailureNotificationEmail *string        `json:"failureNotificationEmail,omitempty"`
	Filter                   *Filter        `json:"filter,omitempty"`
	Status                   WebhookStatus  `json:"status"`
	InactiveReason           *string        `json:"inactiveReason,omitempty"`
	ConsecutiveFailures      int            `json:"consecutiveFailures"`
	CreatedAt                time.Time      `json:"createdAt"`
	UpdatedAt                time.Time      `json:"updatedAt"`
	// NewSigningSecret is set only in the answer of the updateWebhook that made it.
	NewSigningSecret *string `json:"newSigningSecret,omitempty"`
}

// Incident is something that happened to a service.
type Incident struct {
	ID             string         `json:"id"`
	Title          string         `json:"title"`
	Description    *string        `json:"description,omitempty"`
	Urgency        Urgency        `json:"urgency"`
	Status         IncidentStatus `json:"status"`
	MappedWith     *string        `json:"mappedWith,omitempty"`
	URL            string         `json:"url"`
	AlertSource    *string        `json:"alertSource,omitempty"`
	ServiceID      string         `json:"-"`
	TeamID         string         `json:"-"`
	AssigneeID     *string        `json:"-"`
	CreatedAt      time.Time      `json:"createdAt"`
	AcknowledgedAt *time.Time     `json:"acknowledgedAt,omitempty"`
	ResolvedAt     *time.Time     `json:"resolvedAt,omitempty"`
}

// Delivery is one event to be sent to one URL of one webhook.
type Delivery struct {
	ID            string         `json:"id"`
	WebhookID     string         `json:"-"`
	IncidentID    *string        `json:"-"`
	Event         WebhookEvent   `json:"event"`
	URL           string         `json:"url"`
	Status        DeliveryStatus `json:"status"`
	User          *string        `json:"user,omitempty"`
	CreatedAt     time.Time      `json:"createdAt"`
	UpdatedAt     time.Time      `json:"updatedAt"`
	NextAttemptAt *time.Time     `json:"nextAttemptAt,omitempty"`
}

// DeliveryAttempt is one HTTP request Herald made, with its outcome.
type DeliveryAttempt struct {
	ID          string            `json:"id"`
	DeliveryID  *string           `json:"-"`
	WebhookID   *string           `json:"-"`
	Event       WebhookEvent      `json:"event"`
	Number      int               `json:"number"`
	Test        bool              `json:"test"`
	Outcome     AttemptOutcome    `json:"outcome"`
	Request     *HTTPRequestLog   `json:"request"`
	Response    *HTTPResponseLog  `json:"response,omitempty"`
	DurationMs  int               `json:"durationMs"`
	Error       *string           `json:"error,omitempty"`
	ErrorKind   *AttemptErrorKind `json:"errorKind,omitempty"`
	RemoteIP    *string           `json:"remoteIp,omitempty"`
	StartedAt   time.Time         `json:"startedAt"`
	NextRetryAt *time.Time        `json:"nextRetryAt,omitempty"`
	Truncated   bool              `json:"truncated"`
	// LoadedWebhook is the attempt's webhook when it was already read (deliveryLog reads it
	// once for all subscribers); the webhook field resolver uses it instead of a query.
	LoadedWebhook *models.Webhook `json:"-"`
}

// Integration is an incoming-API token bound to a service.
type Integration struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	ServiceID  string     `json:"-"`
	APIFilter  *APIFilter `json:"apiFilter,omitempty"`
	ProcessURL string     `json:"processUrl"`
	RequestURL string     `json:"requestUrl"`
	CreatedAt  time.Time  `json:"createdAt"`
}

// Request is a service request taken in through the incoming API.
type Request struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Description *string   `json:"description,omitempty"`
	ServiceID   string    `json:"-"`
	AlertSource *string   `json:"alertSource,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
}

// WebhookPatch changes a webhook: an omitted field keeps its value (stored credentials
// included); the optional text fields and the filter are cleared by an explicit null.
type WebhookPatch struct {
	Name                     *string                         `json:"name,omitempty"`
	Description              graphql.Omittable[*string]      `json:"description,omitzero"`
	Events                   []WebhookEvent                  `json:"events,omitempty"`
	Urls                     []string                        `json:"urls,omitempty"`
	Method                   *HTTPMethod                     `json:"method,omitempty"`
	Auth                     *AuthInput                      `json:"auth,omitempty"`
	Headers                  []*KeyValueInput                `json:"headers,omitempty"`
	Signing                  *SigningInput                   `json:"signing,omitempty"`
	SendDataUsing            *SendDataUsing                  `json:"sendDataUsing,omitempty"`
	ContentType              *ContentType                    `json:"contentType,omitempty"`
	BodyTemplate             graphql.Omittable[*string]      `json:"bodyTemplate,omitzero"`
	QueryParams              []*KeyValueInput                `json:"queryParams,omitempty"`
	ExtraFields              []*KeyValueInput                `json:"extraFields,omitempty"`
	RetryCount               *int                            `json:"retryCount,omitempty"`
	RetryIntervalMinutes     *int                            `json:"retryIntervalMinutes,omitempty"`
	TimeoutSeconds           *int                            `json:"timeoutSeconds,omitempty"`
	FailureNotificationEmail graphql.Omittable[*string]      `json:"failureNotificationEmail,omitzero"`
	Filter                   graphql.Omittable[*FilterInput] `json:"filter,omitzero"`
}
