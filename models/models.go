package models

import (
	"time"

	"github.com/herald-hq/herald/models/payload"
	"github.com/herald-hq/herald/models/webhook"
)

// Roles.
const (
	RoleGlobalAdmin = "GLOBAL_ADMIN"
	RoleTeamManager = "TEAM_MANAGER"
	RoleMember      = "MEMBER"
)

// Webhook statuses.
const (
	WebhookActive   = "ACTIVE"
	WebhookInactive = "INACTIVE"
)

// Incident statuses.
const (
	IncidentTriggered    = "TRIGGERED"
	IncidentAcknowledged = "ACKNOWLEDGED"
	IncidentResolved     = "RESOLVED"
)

// Delivery statuses.
const (
	DeliveryPending   = "PENDING"
	DeliverySucceeded = "SUCCEEDED"
	DeliveryFailed    = "FAILED"
	DeliveryCancelled = "CANCELLED"
)

// Attempt outcomes.
const (
	AttemptSucceeded = "SUCCEEDED"
	AttemptFailed    = "FAILED"
)

// Team is a group of services and people.
type Team struct {
	ID        string `gorm:"primaryKey;size:40"`
	Name      string `gorm:"not null;uniqueIndex"`
	CreatedAt time.Time
}

// Service belongs to a team.
type Service struct {
	ID        string `gorm:"primaryKey;size:40"`
	TeamID    string `gorm:"size:40;not null;uniqueIndex:idx_service_team_name"`
	Team      *Team  `gorm:"constraint:OnDelete:CASCADE"`
	Name      string `gorm:"not null;uniqueIndex:idx_service_team_name"`
	CreatedAt time.Time
}

// User is a person or automation with a role.
type User struct {
	ID        string `gorm:"primaryKey;size:40"`
	Name      string `gorm:"not null"`
	Email     *string
	Role      string  `gorm:"size:20;not null"`
	Teams     []*Team `gorm:"many2many:team_members;constraint:OnDelete:CASCADE"`
	CreatedAt time.Time
}

// APIToken authenticates a user on the GraphQL API; only its hash is stored.
type APIToken struct {
	ID         string `gorm:"primaryKey;size:40"`
	UserID     string `gorm:"size:40;not null;index"`
	User       *User  `gorm:"constraint:OnDelete:CASCADE"`
	Name       string `gorm:"not null"`
	Hash       string `gorm:"size:64;not null;uniqueIndex"`
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// Webhook is an outgoing webhook. Credentials and signing secrets are sealed (Cipher).
// PreviousSigningSecret is the signing secret the last rotation retired, signing until
// PreviousSecretExpiresAt; OlderSigningSecrets are those retired before it, newest first, each
// signing until its own expiry (MaxPreviousSecrets retired secrets at most, in all).
type Webhook struct {
	ID                      string `gorm:"primaryKey;size:40"`
	Name                    string `gorm:"not null"`
	Description             *string
	Scope                   string   `gorm:"size:10;not null;index:idx_webhook_scope"`
	TeamID                  *string  `gorm:"size:40;index:idx_webhook_scope"`
	Team                    *Team    `gorm:"constraint:OnDelete:CASCADE"`
	ServiceID               *string  `gorm:"size:40;index:idx_webhook_scope"`
	Service                 *Service `gorm:"constraint:OnDelete:CASCADE"`
	Events                  JSON[[]string]
	URLs                    JSON[[]string]
	Method                  string `gorm:"size:10;not null"`
	AuthType                string `gorm:"size:10;not null"`
	AuthUsername            *string
	AuthKey                 *string
	AuthPlacement           *string `gorm:"size:10"`
	AuthSecret              []byte
	Headers                 JSON[[]webhook.KV]
	SigningScheme           string `gorm:"size:20;not null"`
	SigningHeader           *string
	SigningSecret           []byte
	PreviousSigningSecret   []byte
	PreviousSecretExpiresAt *time.Time
	OlderSigningSecrets     JSON[[]RetiredSecret]
	SendDataUsing           string `gorm:"size:12;not null"`
	ContentType             string `gorm:"size:10;not null"`
	BodyTemplate            *string
	QueryParams             JSON[[]webhook.KV]
	ExtraFields             JSON[[]webhook.KV]
	RetryCount              int `gorm:"not null"`
	RetryIntervalMinutes    int `gorm:"not null"`
	TimeoutSeconds          int `gorm:"not null"`
	FailureEmail            *string
	Filter                  JSON[*webhook.Filter]
	Status                  string `gorm:"size:10;not null;index"`
	InactiveReason          *string
	ConsecutiveFailures     int `gorm:"not null;default:0"`
	Revision                int `gorm:"not null;default:1"`
	LastNotifiedAt          *time.Time
	// LastDeactivationNotifiedAt is when the last deactivation e-mail was reserved (a slot of
	// its own, see ClaimFailureNotification).
	LastDeactivationNotifiedAt *time.Time
	CreatedAt                  time.Time
	UpdatedAt                  time.Time
}

// Integration is an incoming-API token bound to a service; only its hash is stored.
type Integration struct {
	ID        string   `gorm:"primaryKey;size:40"`
	ServiceID string   `gorm:"size:40;not null;index"`
	Service   *Service `gorm:"constraint:OnDelete:CASCADE"`
	Name      string   `gorm:"not null"`
	TokenHash string   `gorm:"size:64;not null;uniqueIndex"`
	APIFilter JSON[payload.APIFilter]
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Counter hands out readable sequence numbers (INC-1, …) safely across processes.
type Counter struct {
	Name  string `gorm:"primaryKey;size:40"`
	Value int64  `gorm:"not null"`
}

// Incident is something that happened to a service.
type Incident struct {
	ID             string   `gorm:"primaryKey;size:40"`
	Number         int64    `gorm:"not null;uniqueIndex"`
	ServiceID      string   `gorm:"size:40;not null;index:idx_incident_open"`
	Service        *Service `gorm:"constraint:OnDelete:CASCADE"`
	TeamID         string   `gorm:"size:40;not null;index"`
	Title          string   `gorm:"not null"`
	Description    *string
	Urgency        string  `gorm:"size:10;not null"`
	Status         string  `gorm:"size:15;not null;index:idx_incident_open"`
	MappedWith     *string `gorm:"index:idx_incident_open"`
	AlertSource    *string
	AssigneeID     *string `gorm:"size:40"`
	Assignee       *User   `gorm:"constraint:OnDelete:SET NULL"`
	CreatedAt      time.Time
	UpdatedAt      time.Time
	AcknowledgedAt *time.Time
	ResolvedAt     *time.Time
}

// Request is a service request taken in through the incoming API.
type Request struct {
	ID          string   `gorm:"primaryKey;size:40"`
	ServiceID   string   `gorm:"size:40;not null;index"`
	Service     *Service `gorm:"constraint:OnDelete:CASCADE"`
	Title       string   `gorm:"not null"`
	Description *string
	AlertSource *string
	CreatedAt   time.Time
}

// Snapshot is what a delivery announces, frozen at event time: the incident and the user as
// they were, so that a retry an hour later sends what happened then.
type Snapshot struct {
	EventAt        time.Time  `json:"eventAt"`
	User           string     `json:"user"`
	IncidentID     string     `json:"incidentId"`
	Title          string     `json:"title"`
	Description    string     `json:"description"`
	Urgency        string     `json:"urgency"`
	Status         string     `json:"status"`
	MappedWith     string     `json:"mappedWith"`
	URL            string     `json:"url"`
	AlertSource    string     `json:"alertSource"`
	ServiceID      string     `json:"serviceId"`
	ServiceName    string     `json:"serviceName"`
	TeamID         string     `json:"teamId"`
	TeamName       string     `json:"teamName"`
	Assignee       string     `json:"assignee"`
	CreatedAt      time.Time  `json:"createdAt"`
	AcknowledgedAt *time.Time `json:"acknowledgedAt,omitempty"`
	ResolvedAt     *time.Time `json:"resolvedAt,omitempty"`
}

// Delivery is one event to be sent to one URL of one webhook (the outbox row).
type Delivery struct {
	ID         string    `gorm:"primaryKey;size:40"`
	WebhookID  string    `gorm:"size:40;not null;index"`
	Webhook    *Webhook  `gorm:"constraint:OnDelete:CASCADE"`
	IncidentID *string   `gorm:"size:40;index"`
	Incident   *Incident `gorm:"constraint:OnDelete:SET NULL"`
	Event      string    `gorm:"size:30;not null"`
	URL        string    `gorm:"not null"`
	Status     string    `gorm:"size:10;not null;index:idx_delivery_due,priority:1"`
	Snapshot   JSON[Snapshot]
	Attempts   int `gorm:"not null;default:0"`
	// RetryBase is Attempts when the delivery was last redelivered: attempt numbers go on
	// from it, the retry budget counts from it (0 until a redelivery).
	RetryBase      int        `gorm:"not null;default:0"`
	NextAttemptAt  *time.Time `gorm:"index:idx_delivery_due,priority:2"`
	LeaseToken     *string    `gorm:"size:40"`
	LeaseExpiresAt *time.Time
	LastError      *string
	CreatedAt      time.Time `gorm:"index"`
	UpdatedAt      time.Time
}

// ResponseLog is what came back (body up to 16 KiB).
type ResponseLog struct {
	Status  int          `json:"status"`
	Headers []webhook.KV `json:"headers"`
	Body    string       `json:"body,omitempty"`
}

// Attempt is one HTTP request Herald made, with its outcome.
type Attempt struct {
	ID          string    `gorm:"primaryKey;size:40"`
	DeliveryID  *string   `gorm:"size:40;index"`
	Delivery    *Delivery `gorm:"constraint:OnDelete:CASCADE"`
	WebhookID   *string   `gorm:"size:40;index"`
	Webhook     *Webhook  `gorm:"constraint:OnDelete:CASCADE"`
	Event       string    `gorm:"size:30;not null"`
	Number      int       `gorm:"not null"`
	Test        bool      `gorm:"not null"`
	Outcome     string    `gorm:"size:10;not null"`
	Request     JSON[webhook.RequestLog]
	Response    JSON[*ResponseLog]
	DurationMs  int `gorm:"not null"`
	Error       *string
	ErrorKind   *string   `gorm:"size:20"`
	RemoteIP    *string   `gorm:"size:64"`
	StartedAt   time.Time `gorm:"index"`
	NextRetryAt *time.Time
	// Truncated reports that the rendered body or query string was cut at its limit.
	Truncated bool `gorm:"not null;default:false"`
	// ResponseTruncated reports that Response's body is shorter than what the receiver sent or
	// meant to send: cut at 16 KiB, or ended by the timeout or a broken connection.
	ResponseTruncated bool `gorm:"not null;default:false"`
}
