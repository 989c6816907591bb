package models_test

import (
	"context"
	"errors"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

// TestDuplicateNames checks that a team name in use, or a service name its team uses, is
// VALIDATION on name (SPEC §4), while another team may use the same service name.
func TestDuplicateNames(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		name := storetest.Name("team")
		team, err := s.CreateTeam(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		other, err := s.CreateTeam(ctx, storetest.Name("other"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateService(ctx, team.ID, "api"); err != nil {
			t.Fatal(err)
		}
		_, teamErr := s.CreateTeam(ctx, " "+name+" ")
		_, serviceErr := s.CreateService(ctx, team.ID, "api")
		for what, err := range map[string]error{"team": teamErr, "service": serviceErr} {
			var e *models.Error
			if !errors.As(err, &e) || e.Code != models.CodeValidation || e.Field != "name" {
				t.Errorf("duplicate %s: %v, want VALIDATION on name", what, err)
			}
		}
		if _, err := s.CreateService(ctx, other.ID, "api"); err != nil {
			t.Errorf("the same service name in another team: %v", err)
		}
	})
}
