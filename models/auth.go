package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/herald-hq/herald/models/hub"
	"gorm.io/gorm"
)

// Principal is the authenticated caller of an operation.
type Principal struct {
	UserID string
	Name   string
	Role   string
	// Teams are the ids of the caller's teams (managed for TEAM_MANAGER, read for MEMBER).
	Teams map[string]bool
	// TokenID is the id of the API token the caller authenticated with.
	TokenID string
}

// IsAdmin reports whether the caller is a GLOBAL_ADMIN.
func (p *Principal) IsAdmin() bool { return p != nil && p.Role == RoleGlobalAdmin }

// CanReadTeam reports whether the caller may see the team and what belongs to it.
func (p *Principal) CanReadTeam(teamID string) bool {
	return p != nil && (p.IsAdmin() || p.Teams[teamID])
}

// CanManageTeam reports whether the caller may change the team, its services and its TEAM and
// SERVICE webhooks.
func (p *Principal) CanManageTeam(teamID string) bool {
	return p != nil && (p.IsAdmin() || (p.Role == RoleTeamManager && p.Teams[teamID]))
}

// TeamIDs returns the caller's team ids.
func (p *Principal) TeamIDs() []string {
	ids := make([]string, 0, len(p.Teams))
	for id := range p.Teams {
		ids = append(ids, id)
	}
	return ids
}

// ValidRole reports whether r is one of the three roles.
func ValidRole(r string) bool {
	return r == RoleGlobalAdmin || r == RoleTeamManager || r == RoleMember
}

// Authenticate finds the user behind an API token: UNAUTHENTICATED when there is none.
func (s *Store) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, Errorf(CodeUnauthenticated, "missing API token")
	}
	var tok APIToken
	err := s.db.WithContext(ctx).Where("hash = ?", HashToken(token)).First(&tok).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, Errorf(CodeUnauthenticated, "unknown API token")
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	now := s.Now()
	if tok.LastUsedAt == nil || now.Sub(*tok.LastUsedAt) > time.Minute {
		if err := s.db.WithContext(ctx).Model(&APIToken{}).Where("id = ?", tok.ID).Update("last_used_at", now).Error; err != nil {
			return nil, fmt.Errorf("authenticate: %w", err)
		}
	}
	p, err := s.FindPrincipal(ctx, tok.UserID)
	if err != nil {
		return nil, err
	}
	p.TokenID = tok.ID
	return p, nil
}

// FindPrincipal returns the principal of a user, without a TokenID: NOT_FOUND when the user
// is gone.
func (s *Store) FindPrincipal(ctx context.Context, userID string) (*Principal, error) {
	var u User
	if err := s.db.WithContext(ctx).Preload("Teams").First(&u, "id = ?", userID).Error; err != nil {
		return nil, fmt.Errorf("load principal: %w", translate(err, "user"))
	}
	p := &Principal{UserID: u.ID, Name: u.Name, Role: u.Role, Teams: map[string]bool{}}
	for _, t := range u.Teams {
		p.Teams[t.ID] = true
	}
	return p, nil
}

// EnsureAdmin makes sure an administrator can log in. With a token, a GLOBAL_ADMIN user holding
// that token exists afterwards. Without one, when the database has no user yet, it creates an
// admin with a new token and returns that token (to be printed once); otherwise it returns "".
func (s *Store) EnsureAdmin(ctx context.Context, token string) (string, error) {
	db := s.db.WithContext(ctx)
	if token != "" {
		var n int64
		if err := db.Model(&APIToken{}).Where("hash = ?", HashToken(token)).Count(&n).Error; err != nil {
			return "", fmt.Errorf("ensure admin: %w", err)
		}
		if n > 0 {
			return "", nil
		}
		return "", s.createAdmin(ctx, token)
	}
	var users int64
	if err := db.Model(&User{}).Count(&users).Error; err != nil {
		return "", fmt.Errorf("ensure admin: %w", err)
	}
	if users > 0 {
		return "", nil
	}
	tok, err := NewToken("hrd_")
	if err != nil {
		return "", err
	}
	return tok, s.createAdmin(ctx, tok)
}

func (s *Store) createAdmin(ctx context.Context, token string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		u := User{ID: newID(), Name: "admin", Role: RoleGlobalAdmin}
		if err := tx.Create(&u).Error; err != nil {
			return fmt.Errorf("create admin: %w", err)
		}
		t := APIToken{ID: newID(), UserID: u.ID, Name: "bootstrap", Hash: HashToken(token)}
		if err := tx.Create(&t).Error; err != nil {
			return fmt.Errorf("create admin token: %w", err)
		}
		return nil
	})
}

// CreateTeam adds a team. VALIDATION for an empty name or one in use (field name).
func (s *Store) CreateTeam(ctx context.Context, name string) (*Team, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, Invalid("name", "name is required")
	}
	if err := CheckLine("name", name, MaxNameChars); err != nil {
		return nil, err
	}
	t := Team{ID: newID(), Name: name}
	if err := s.db.WithContext(ctx).Create(&t).Error; err != nil {
		return nil, translate(err, "team")
	}
	return &t, nil
}

// FindTeamByID returns a team: NOT_FOUND when there is none.
func (s *Store) FindTeamByID(ctx context.Context, id string) (*Team, error) {
	var t Team
	if err := s.db.WithContext(ctx).First(&t, "id = ?", id).Error; err != nil {
		return nil, translate(err, "team")
	}
	return &t, nil
}

// ListTeams returns the teams, all of them when ids is nil, else those with the ids.
func (s *Store) ListTeams(ctx context.Context, ids []string) ([]*Team, error) {
	q := s.db.WithContext(ctx).Order("name")
	if ids != nil {
		q = q.Where("id IN ?", nonEmpty(ids))
	}
	var ts []*Team
	if err := q.Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	return ts, nil
}

// CreateService adds a service to a team: NOT_FOUND for an unknown team, VALIDATION for an empty
// name or one the team already uses (field name).
func (s *Store) CreateService(ctx context.Context, teamID, name string) (*Service, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, Invalid("name", "name is required")
	}
	if err := CheckLine("name", name, MaxNameChars); err != nil {
		return nil, err
	}
	if _, err := s.FindTeamByID(ctx, teamID); err != nil {
		return nil, err
	}
	sv := Service{ID: newID(), TeamID: teamID, Name: name}
	if err := s.db.WithContext(ctx).Create(&sv).Error; err != nil {
		return nil, translate(err, "service")
	}
	return &sv, nil
}

// FindServiceByID returns a service: NOT_FOUND when there is none.
func (s *Store) FindServiceByID(ctx context.Context, id string) (*Service, error) {
	var sv Service
	if err := s.db.WithContext(ctx).First(&sv, "id = ?", id).Error; err != nil {
		return nil, translate(err, "service")
	}
	return &sv, nil
}

// ListServices returns services, of one team when teamID is set, limited to the teams in
// teamIDs unless it is nil.
func (s *Store) ListServices(ctx context.Context, teamID *string, teamIDs []string) ([]*Service, error) {
	q := s.db.WithContext(ctx).Order("name")
	if teamID != nil {
		q = q.Where("team_id = ?", *teamID)
	}
	if teamIDs != nil {
		q = q.Where("team_id IN ?", nonEmpty(teamIDs))
	}
	var out []*Service
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	return out, nil
}

// CreateUser adds a user with a role and teams: VALIDATION for a bad name, e-mail or role,
// NOT_FOUND for an unknown team.
func (s *Store) CreateUser(ctx context.Context, name string, email *string, role string, teamIDs []string) (*User, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, Invalid("name", "name is required")
	}
	if err := CheckLine("name", name, MaxNameChars); err != nil {
		return nil, err
	}
	if email != nil {
		if err := CheckEmail("email", *email); err != nil {
			return nil, err
		}
	}
	if !ValidRole(role) {
		return nil, Invalid("role", "unknown role %q", role)
	}
	if role == RoleTeamManager && len(teamIDs) == 0 {
		return nil, Invalid("teamIds", "a TEAM_MANAGER needs at least one team")
	}
	var teams []*Team
	for i, id := range teamIDs {
		t, err := s.FindTeamByID(ctx, id)
		if err != nil {
			var e *Error
			if errors.As(err, &e) && e.Code == CodeNotFound {
				return nil, Invalid(fmt.Sprintf("teamIds[%d]", i), "team not found")
			}
			return nil, err
		}
		teams = append(teams, t)
	}
	u := User{ID: newID(), Name: name, Email: email, Role: role, Teams: teams}
	if err := s.db.WithContext(ctx).Create(&u).Error; err != nil {
		return nil, translate(err, "user")
	}
	return &u, nil
}

// AddTeamMember puts a user in a team: NOT_FOUND for an unknown user or team.
func (s *Store) AddTeamMember(ctx context.Context, teamID, userID string) (*User, error) {
	t, err := s.FindTeamByID(ctx, teamID)
	if err != nil {
		return nil, err
	}
	u, err := s.FindUserByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := s.db.WithContext(ctx).Model(u).Association("Teams").Append(t); err != nil {
		return nil, fmt.Errorf("add team member: %w", err)
	}
	return u, nil
}

// InTeams reports whether the user is a member of one of the teams. Errors: INTERNAL.
func (s *Store) InTeams(ctx context.Context, userID string, teamIDs []string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Table("team_members").Where("user_id = ? AND team_id IN ?", userID, nonEmpty(teamIDs)).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("team membership: %w", err)
	}
	return n > 0, nil
}

// FindUserByID returns a user: NOT_FOUND when there is none.
func (s *Store) FindUserByID(ctx context.Context, id string) (*User, error) {
	var u User
	if err := s.db.WithContext(ctx).First(&u, "id = ?", id).Error; err != nil {
		return nil, translate(err, "user")
	}
	return &u, nil
}

// ListUsers returns users, all when teamIDs is nil, else those in one of the teams.
func (s *Store) ListUsers(ctx context.Context, teamIDs []string) ([]*User, error) {
	q := s.db.WithContext(ctx).Order("name")
	if teamIDs != nil {
		q = q.Where("id IN (?)", s.db.Table("team_members").Select("user_id").Where("team_id IN ?", nonEmpty(teamIDs)))
	}
	var out []*User
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// ListUserTeams returns the teams of a user.
func (s *Store) ListUserTeams(ctx context.Context, userID string) ([]*Team, error) {
	var ts []*Team
	err := s.db.WithContext(ctx).Order("name").
		Where("id IN (?)", s.db.Table("team_members").Select("team_id").Where("user_id = ?", userID)).
		Find(&ts).Error
	if err != nil {
		return nil, fmt.Errorf("list user teams: %w", err)
	}
	return ts, nil
}

// CreateAPIToken gives a user a new token and returns it; only its hash is kept.
func (s *Store) CreateAPIToken(ctx context.Context, userID, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", Invalid("name", "name is required")
	}
	if err := CheckLine("name", name, MaxNameChars); err != nil {
		return "", err
	}
	if _, err := s.FindUserByID(ctx, userID); err != nil {
		return "", err
	}
	tok, err := NewToken("hrd_")
	if err != nil {
		return "", err
	}
	t := APIToken{ID: newID(), UserID: userID, Name: name, Hash: HashToken(tok)}
	if err := s.db.WithContext(ctx).Create(&t).Error; err != nil {
		return "", fmt.Errorf("create api token: %w", err)
	}
	return tok, nil
}

// ListAPITokens returns a user's tokens (never their values).
func (s *Store) ListAPITokens(ctx context.Context, userID string) ([]*APIToken, error) {
	var out []*APIToken
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("created_at").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return out, nil
}

// FindAPITokenByID returns a token's record: NOT_FOUND when there is none.
func (s *Store) FindAPITokenByID(ctx context.Context, id string) (*APIToken, error) {
	var t APIToken
	if err := s.db.WithContext(ctx).First(&t, "id = ?", id).Error; err != nil {
		return nil, translate(err, "api token")
	}
	return &t, nil
}

// DeleteAPIToken revokes a token and, once that is committed, ends the token's watches
// (WatchAPIToken): this process's at once and, on PostgreSQL, every other process's through a
// NOTIFY sent by the same transaction, so that no revocation is stored without it. (The
// notifier's coalescing, which keeps NOTIFY out of the busy write transactions, is not worth
// that risk for a write this rare.)
func (s *Store) DeleteAPIToken(ctx context.Context, id string) error {
	var deleted int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Delete(&APIToken{}, "id = ?", id)
		if res.Error != nil {
			return res.Error
		}
		deleted = res.RowsAffected
		if deleted == 0 || s.dialect != DialectPostgres {
			return nil
		}
		return tx.Exec("SELECT pg_notify(?, ?)", RevocationChannel, id).Error
	})
	if err != nil {
		return fmt.Errorf("delete api token: %w", err)
	}
	if deleted > 0 {
		s.hub.Revoke(id)
	}
	return nil
}

// WatchAPIToken calls revoked, once, when the API token with the id tokenID is revoked
// (DeleteAPIToken) by this process or, on PostgreSQL, by any process sharing the database: a
// caller checked once and trusted afterwards (a websocket connection) ends with its token.
// revoked runs on the revoking goroutine or the LISTEN loop and must return at once. The token
// is read after the watch has started, so that no revocation slips in between the caller's
// authentication and the watch: when it is gone, revoked is called at once and WatchAPIToken
// returns UNAUTHENTICATED. Stop the watch when the caller is done.
func (s *Store) WatchAPIToken(ctx context.Context, tokenID string, revoked func()) (*hub.TokenWatch, error) {
	w := s.hub.Watch(tokenID, revoked)
	_, err := s.FindAPITokenByID(ctx, tokenID)
	switch {
	case ErrorCode(err) == CodeNotFound:
		if w.End() {
			revoked()
		}
		return nil, Errorf(CodeUnauthenticated, "API token revoked")
	case err != nil:
		w.Stop()
		return nil, fmt.Errorf("watch api token: %w", err)
	}
	return w, nil
}

// recheckWatchedTokens ends the watches of the tokens that no longer exist: on PostgreSQL, the
// LISTEN loop's (re)connection calls it, for the revocations notified while no connection
// listened.
func (s *Store) recheckWatchedTokens(ctx context.Context) error {
	watched := s.hub.Watched()
	live := map[string]bool{}
	for ids := range slices.Chunk(watched, 1000) {
		var found []string
		if err := s.db.WithContext(ctx).Model(&APIToken{}).Where("id IN ?", ids).Pluck("id", &found).Error; err != nil {
			return fmt.Errorf("recheck watched api tokens: %w", err)
		}
		for _, id := range found {
			live[id] = true
		}
	}
	s.hub.Revoke(slices.DeleteFunc(watched, func(id string) bool { return live[id] })...)
	return nil
}

// nonEmpty keeps an IN list valid SQL when a caller has no ids at all.
func nonEmpty(ids []string) []string {
	if len(ids) == 0 {
		return []string{""}
	}
	return ids
}
