package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/herald-hq/herald/models/webhook"
	"github.com/tidwall/gjson"
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

// Limits of the incoming API's generated values.
const (
	maxPathLen         = 256
	maxTitleRunes      = 500
	maxSourceRunes     = 200
	maxMappingLen      = 200
	maxMatchValueChars = 1000
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

// ValidateAPIFilter checks an integration's API filter: every key a well-formed gjson path,
// every resolveWhen/acknowledgeWhen with a key and a value, and a mappingKey beside them (it
// finds the incident they act on). It returns VALIDATION naming the field
// (`apiFilter.resolveWhen.key`).
func ValidateAPIFilter(f APIFilter) error {
	paths := []struct{ field, path string }{
		{"apiFilter.titleKey", f.TitleKey},
		{"apiFilter.descriptionKey", f.DescriptionKey},
		{"apiFilter.urgencyKey", f.UrgencyKey},
		{"apiFilter.mappingKey", f.MappingKey},
	}
	for _, p := range paths {
		if p.path == "" {
			continue
		}
		if err := validPath(p.path); err != nil {
			return Invalid(p.field, "%q is not a valid JSON path: %v", p.path, err)
		}
	}
	matches := []struct {
		field string
		m     *Match
	}{{"apiFilter.resolveWhen", f.ResolveWhen}, {"apiFilter.acknowledgeWhen", f.AcknowledgeWhen}}
	for _, m := range matches {
		if m.m == nil {
			continue
		}
		if strings.TrimSpace(m.m.Key) == "" {
			return Invalid(m.field+".key", "key is required")
		}
		if err := validPath(m.m.Key); err != nil {
			return Invalid(m.field+".key", "%q is not a valid JSON path: %v", m.m.Key, err)
		}
		if strings.TrimSpace(m.m.Value) == "" {
			return Invalid(m.field+".value", "value is required")
		}
		if err := CheckLine(m.field+".value", m.m.Value, maxMatchValueChars); err != nil {
			return err
		}
	}
	// A resolve or acknowledge payload acts on the open incident its mapping value finds:
	// without a mappingKey every one of them would be ignored.
	for _, m := range matches {
		if m.m != nil && f.MappingKey == "" {
			name := strings.TrimPrefix(m.field, "apiFilter.")
			return Invalid("apiFilter.mappingKey", "%s needs a mappingKey to find the incident it resolves or acknowledges", name)
		}
	}
	return nil
}

// validPath checks a gjson path: not blank, bounded, printable, no empty component, balanced
// brackets and quotes, no dangling escape.
func validPath(p string) error {
	if strings.TrimSpace(p) == "" {
		return errors.New("empty path")
	}
	if len(p) > maxPathLen {
		return fmt.Errorf("longer than %d bytes", maxPathLen)
	}
	if !utf8.ValidString(p) {
		return errors.New("not valid UTF-8")
	}
	var stack []rune
	inQuote, escaped, empty := false, false, true
	for _, r := range p {
		switch {
		case unicode.IsControl(r):
			return errors.New("contains a control character")
		case escaped:
			escaped, empty = false, false
			continue
		case r == '\\':
			escaped = true
			continue
		case inQuote:
			if r == '"' {
				inQuote = false
			}
			continue
		}
		switch r {
		case '"':
			if len(stack) == 0 {
				return errors.New("quote outside a query")
			}
			inQuote = true
		case '(', '[', '{':
			stack = append(stack, r)
		case ')', ']', '}':
			open := map[rune]rune{')': '(', ']': '[', '}': '{'}[r]
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return fmt.Errorf("unbalanced %q", r)
			}
			stack = stack[:len(stack)-1]
		case '.', '|':
			if len(stack) == 0 {
				if empty {
					return errors.New("empty path component")
				}
				empty = true
				continue
			}
		}
		empty = false
	}
	switch {
	case escaped:
		return errors.New("ends with a backslash")
	case inQuote:
		return errors.New("unterminated quote")
	case len(stack) > 0:
		return fmt.Errorf("unclosed %q", stack[len(stack)-1])
	case empty:
		return errors.New("empty path component")
	}
	return nil
}

// lookup returns the non-blank text at path in a JSON payload, and whether there was one.
func lookup(payload []byte, path string) (string, bool) {
	if path == "" || !gjson.ValidBytes(payload) {
		return "", false
	}
	r := gjson.GetBytes(payload, path)
	if !r.Exists() {
		return "", false
	}
	v := cleanText(r.String())
	if strings.TrimSpace(v) == "" {
		return "", false
	}
	return v, true
}

// cleanText makes s storable in any database: valid UTF-8 without NUL bytes.
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// truncateRunes cuts s to at most n runes, marking the cut with an ellipsis.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// CleanSource normalises the `from` parameter of the incoming API: trimmed, printable,
// at most 200 characters; empty means unknown.
func CleanSource(from string) string {
	from = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, cleanText(from))
	return truncateRunes(strings.TrimSpace(from), maxSourceRunes)
}

// IngestTitle returns the title of an incident taken in through the incoming API: with the
// filter's titleKey found in the payload `SOURCE - VALUE` (or `VALUE` without a source),
// otherwise the generated "Incident from SOURCE" / "Incident from unknown source" in lang.
func IngestTitle(lang, source string, payload []byte, f APIFilter) string {
	if v, ok := lookup(payload, f.TitleKey); ok {
		v = strings.TrimSpace(v)
		if source != "" {
			v = source + " - " + v
		}
		return truncateRunes(v, maxTitleRunes)
	}
	return truncateRunes(GeneratedIncidentTitle(lang, source), maxTitleRunes)
}

// IngestDescription returns the value at the filter's descriptionKey, or else the whole
// payload as text (also when it is not JSON).
func IngestDescription(payload []byte, f APIFilter) string {
	if v, ok := lookup(payload, f.DescriptionKey); ok {
		return v
	}
	return cleanText(string(payload))
}

// IngestUrgency returns LOW when the value at the filter's urgencyKey is "low"
// (case-insensitively) and HIGH otherwise.
func IngestUrgency(payload []byte, f APIFilter) string {
	if v, ok := lookup(payload, f.UrgencyKey); ok && strings.EqualFold(strings.TrimSpace(v), "low") {
		return webhook.UrgencyLow
	}
	return webhook.UrgencyHigh
}

// IngestMappingValue returns the value at the filter's mappingKey that ties payloads to one
// incident, or "" without one. Values longer than 200 bytes are replaced by their SHA-256 so
// that they stay indexable.
func IngestMappingValue(payload []byte, f APIFilter) string {
	v, ok := lookup(payload, f.MappingKey)
	if !ok {
		return ""
	}
	if len(v) > maxMappingLen {
		sum := sha256.Sum256([]byte(v))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return v
}

// MatchesWhen reports whether the payload's value at m.Key equals m.Value, ignoring case and
// surrounding spaces; a nil m never matches.
func MatchesWhen(payload []byte, m *Match) bool {
	if m == nil {
		return false
	}
	v, ok := lookup(payload, m.Key)
	return ok && strings.EqualFold(strings.TrimSpace(v), strings.TrimSpace(m.Value))
}

// CreateIntegration adds an incoming-API integration to a service and returns it with its
// token, shown this once (only a hash is stored). VALIDATION for a blank name or a bad API
// filter, NOT_FOUND for an unknown service.
func (s *Store) CreateIntegration(ctx context.Context, serviceID, name string, f APIFilter) (*Integration, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, "", Invalid("name", "name is required")
	}
	if err := CheckLine("name", name, MaxNameChars); err != nil {
		return nil, "", err
	}
	if err := ValidateAPIFilter(f); err != nil {
		return nil, "", err
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
func (s *Store) UpdateIntegration(ctx context.Context, id string, name *string, f *APIFilter) (*Integration, error) {
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
		if err := ValidateAPIFilter(*f); err != nil {
			return nil, err
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
func (s *Store) Ingest(ctx context.Context, in *Integration, from string, payload []byte) (*IngestResult, error) {
	f := in.APIFilter.V
	source := CleanSource(from)
	mapping := IngestMappingValue(payload, f)
	resolve := MatchesWhen(payload, f.ResolveWhen)
	acknowledge := !resolve && MatchesWhen(payload, f.AcknowledgeWhen)
	if mapping == "" && s.dialect == DialectPostgres {
		// Nothing to map to: the payload creates an incident, or is ignored.
		if resolve || acknowledge {
			return &IngestResult{Action: IngestIgnored, Message: ingestIgnoredMessage}, nil
		}
		inc := s.ingestIncident(in, source, payload, mapping)
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
			inc := s.ingestIncident(in, source, payload, mapping)
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
func (s *Store) ingestIncident(in *Integration, source string, payload []byte, mapping string) *Incident {
	f := in.APIFilter.V
	description := IngestDescription(payload, f)
	return &Incident{
		ServiceID:   in.ServiceID,
		Title:       IngestTitle(s.language, source, payload, f),
		Description: &description,
		Urgency:     IngestUrgency(payload, f),
		MappedWith:  nilIfEmpty(mapping),
		AlertSource: nilIfEmpty(source),
	}
}

// IngestRequest creates a request from a payload sent to /v1/request: titled "Request from
// SOURCE" (or "Request from unknown source") in the store's language, the payload as its
// description. Errors are internal only.
func (s *Store) IngestRequest(ctx context.Context, in *Integration, from string, payload []byte) (*Request, error) {
	source := CleanSource(from)
	description := cleanText(string(payload))
	r := Request{
		ID:          newID(),
		ServiceID:   in.ServiceID,
		Title:       GeneratedRequestTitle(s.language, source),
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
