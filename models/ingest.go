package models

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/herald-hq/herald/models/payload"
	"github.com/herald-hq/herald/models/webhook"
	"gorm.io/gorm"
)

// Ingest actions: what an incoming payload did.
const (
	IngestCreated      = "created"
	IngestMapped       = "mapped"
	IngestAcknowledged = "acknowledged"
	IngestResolved     = "resolved"
	IngestIgnored      = "ignored"
)

// IngestResult tells what a payload sent to /v1/process did.
type IngestResult struct {
	// Action is created, mapped, acknowledged, resolved or ignored.
	Action string
	// IncidentID is the incident created or mapped to; empty when ignored.
	IncidentID string
	// Message explains an ignored payload.
	Message string
}

// CreateIntegration adds an incoming-API integration to a service and returns it with its
// token, shown this once (only a hash is stored). VALIDATION for a blank name or a bad API
// filter, NOT_FOUND for an unknown service.
func (s *Store) CreateIntegration(ctx context.Context, serviceID, name string, f payload.APIFilter) (*Integration, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, "", Invalid("name", "name is required")
	}
	if err := CheckLine("name", name, MaxNameChars); err != nil {
		return nil, "", err
	}
	if err := payload.Validate(f); err != nil {
		return nil, "", invalidInput(err)
	}
	if _, err := s.FindServiceByID(ctx, serviceID); err != nil {
		return nil, "", err
	}
	tok, err := NewToken("hri_")
	if err != nil {
		return nil, "", err
	}
	in := Integration{ID: newID(), ServiceID: serviceID, Name: name, TokenHash: HashToken(tok), APIFilter: NewJSON(f), CreatedAt: s.Now()}
	if err := s.db.WithContext(ctx).Create(&in).Error; err != nil {
		return nil, "", fmt.Errorf("create integration: %w", translate(err, "integration"))
	}
	return &in, tok, nil
}

// UpdateIntegration changes an integration's name and API filter where given (nil keeps
// them), keeping its token: a sender keeps posting with the token it has. VALIDATION for a
// blank name, a bad API filter or a revoked integration, NOT_FOUND for an unknown one.
func (s *Store) UpdateIntegration(ctx context.Context, id string, name *string, f *payload.APIFilter) (*Integration, error) {
	changes := map[string]any{}
	if name != nil {
		n := strings.TrimSpace(*name)
		if n == "" {
			return nil, Invalid("name", "name is required")
		}
		if err := CheckLine("name", n, MaxNameChars); err != nil {
			return nil, err
		}
		changes["name"] = n
	}
	if f != nil {
		if err := payload.Validate(*f); err != nil {
			return nil, invalidInput(err)
		}
		changes["api_filter"] = NewJSON(*f)
	}
	// Only what is given is written, in one statement: concurrent updates of the other field,
	// and a revocation, are not undone.
	if len(changes) > 0 {
		updated, err := s.changeIntegration(ctx, id, changes)
		if err != nil {
			return nil, fmt.Errorf("update integration: %w", translate(err, "integration"))
		}
		if updated {
			return s.FindIntegrationByID(ctx, id)
		}
	}
	in, err := s.FindIntegrationByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if in.RevokedAt != nil {
		return nil, Invalid("id", "the integration is revoked")
	}
	return in, nil
}

// ListIntegrations returns the integrations that are not revoked, of one service when
// serviceID is set, limited to the services of teamIDs unless it is nil.
func (s *Store) ListIntegrations(ctx context.Context, serviceID *string, teamIDs []string) ([]*Integration, error) {
	q := s.db.WithContext(ctx).Where("revoked_at IS NULL").Order("created_at, id")
	if serviceID != nil {
		q = q.Where("service_id = ?", *serviceID)
	}
	if teamIDs != nil {
		q = q.Where("service_id IN (?)", s.db.Model(&Service{}).Select("id").Where("team_id IN ?", nonEmpty(teamIDs)))
	}
	var out []*Integration
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list integrations: %w", err)
	}
	return out, nil
}

// FindIntegrationByID returns an integration, revoked or not: NOT_FOUND when there is none.
func (s *Store) FindIntegrationByID(ctx context.Context, id string) (*Integration, error) {
	var in Integration
	if err := s.db.WithContext(ctx).First(&in, "id = ?", id).Error; err != nil {
		return nil, translate(err, "integration")
	}
	return &in, nil
}

// FindIntegrationByToken returns the integration holding a token: UNAUTHENTICATED for a
// missing, unknown or revoked token.
func (s *Store) FindIntegrationByToken(ctx context.Context, token string) (*Integration, error) {
	if token == "" {
		return nil, Errorf(CodeUnauthenticated, "missing integration token")
	}
	hash := HashToken(token)
	cached, gen := s.integrations.get(hash)
	if cached != nil {
		return cached, nil
	}
	var in Integration
	err := s.db.WithContext(ctx).Where("token_hash = ?", hash).First(&in).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, Errorf(CodeUnauthenticated, "unknown integration token")
	}
	if err != nil {
		return nil, fmt.Errorf("find integration: %w", err)
	}
	if in.RevokedAt != nil {
		return nil, Errorf(CodeUnauthenticated, "integration token revoked")
	}
	s.integrations.put(hash, in, gen)
	return &in, nil
}

// RevokeIntegration stops an integration's token from working: NOT_FOUND when there is no
// such integration; revoking twice is harmless.
func (s *Store) RevokeIntegration(ctx context.Context, id string) error {
	revoked, err := s.changeIntegration(ctx, id, map[string]any{"revoked_at": s.Now()})
	if err != nil {
		return fmt.Errorf("revoke integration: %w", err)
	}
	if !revoked {
		if _, err := s.FindIntegrationByID(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// changeIntegration writes changes to a live integration and reports whether there was one.
// Every process then forgets the integrations it remembers: this one at once and, on
// PostgreSQL, the others through a NOTIFY sent by the same transaction (as DeleteAPIToken
// does), so that no change is stored without it.
func (s *Store) changeIntegration(ctx context.Context, id string, changes map[string]any) (bool, error) {
	var changed bool
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Integration{}).Where("id = ? AND revoked_at IS NULL", id).Updates(changes)
		if res.Error != nil {
			return res.Error
		}
		changed = res.RowsAffected > 0
		if !changed || s.dialect != DialectPostgres {
			return nil
		}
		return tx.Exec("SELECT pg_notify(?, ?)", IntegrationChannel, id).Error
	})
	if changed {
		s.integrations.purge()
	}
	return changed && err == nil, err
}

// Ingest handles a payload sent to /v1/process through an integration, in one transaction:
// it creates an incident, or maps the payload to the open incident of the same service with
// the same mapping value and, when resolveWhen or acknowledgeWhen match, moves it (firing the
// events). A resolve or acknowledge payload without an open incident to map is ignored.
// Errors are internal only: every payload is acceptable.
func (s *Store) Ingest(ctx context.Context, in *Integration, from string, body []byte) (*IngestResult, error) {
	f := in.APIFilter.V
	source := payload.CleanSource(from)
	mapping := payload.MappingValue(body, f)
	resolve := payload.Matches(body, f.ResolveWhen)
	acknowledge := !resolve && payload.Matches(body, f.AcknowledgeWhen)
	if mapping == "" && s.dialect == DialectPostgres {
		// Nothing to map to: the payload creates an incident, or is ignored.
		if resolve || acknowledge {
			return &IngestResult{Action: IngestIgnored, Message: ingestIgnoredMessage}, nil
		}
		inc := s.ingestIncident(in, source, body, mapping)
		if err := s.createIncidentPG(ctx, inc, in.Name); err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
		return &IngestResult{Action: IngestCreated, IncidentID: inc.ID}, nil
	}
	var res IngestResult
	err := s.writeIncidents(ctx, func(w *incidentWriter) error {
		res = IngestResult{}
		var open *Incident
		if mapping != "" {
			var err error
			if open, err = w.findOpenMapped(in.ServiceID, mapping); err != nil {
				return err
			}
		}
		if open == nil {
			if resolve || acknowledge {
				res.Action, res.Message = IngestIgnored, ingestIgnoredMessage
				return nil
			}
			inc := s.ingestIncident(in, source, body, mapping)
			if err := w.create(inc, in.Name); err != nil {
				return err
			}
			res.Action, res.IncidentID = IngestCreated, inc.ID
			return nil
		}
		res.IncidentID = open.ID
		switch {
		case resolve:
			res.Action = IngestResolved
			return w.move(open, webhook.EventResolved, in.Name)
		case acknowledge && open.Status == IncidentTriggered:
			res.Action = IngestAcknowledged
			return w.move(open, webhook.EventAcknowledged, in.Name)
		}
		res.Action = IngestMapped
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return &res, nil
}

// ingestIgnoredMessage explains an ignored payload.
const ingestIgnoredMessage = "the payload matches resolveWhen or acknowledgeWhen but maps to no open incident: nothing was created"

// ingestIncident is the new incident a payload creates, before it is numbered.
func (s *Store) ingestIncident(in *Integration, source string, body []byte, mapping string) *Incident {
	f := in.APIFilter.V
	description := payload.Description(body, f)
	return &Incident{
		ServiceID:   in.ServiceID,
		Title:       payload.Title(s.language, source, body, f),
		Description: &description,
		Urgency:     payload.Urgency(body, f),
		MappedWith:  nilIfEmpty(mapping),
		AlertSource: nilIfEmpty(source),
	}
}

// IngestRequest creates a request from a payload sent to /v1/request: titled "Request from
// SOURCE" (or "Request from unknown source") in the store's language, the payload as its
// description. Errors are internal only.
func (s *Store) IngestRequest(ctx context.Context, in *Integration, from string, body []byte) (*Request, error) {
	source := payload.CleanSource(from)
	description := payload.CleanText(string(body))
	r := Request{
		ID:          newID(),
		ServiceID:   in.ServiceID,
		Title:       payload.GeneratedRequestTitle(s.language, source),
		Description: &description,
		AlertSource: nilIfEmpty(source),
		CreatedAt:   s.Now(),
	}
	if err := s.db.WithContext(ctx).Create(&r).Error; err != nil {
		return nil, fmt.Errorf("create request: %w", err)
	}
	return &r, nil
}

// nilIfEmpty returns nil for the empty string.
func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
