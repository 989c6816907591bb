package models_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

// TestMigrateSecretHeaders stores a webhook as a Herald without secret headers did (every
// header value in clear) and opens the store again: the values of the headers whose names
// look like credentials are then sealed and marked secret, still sent as they were, and
// neither the column nor, on SQLite, any byte of the database's files holds them.
func TestMigrateSecretHeaders(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dbURL := storetest.URL(t, d)
			s := storetest.OpenURL(t, dbURL)
			f := setupWebhooks(t, s)
			w, _, err := s.CreateWebhook(ctx, validWebhookSpec(f.team.ID))
			if err != nil {
				t.Fatal(err)
			}
			// The long value spills over into overflow pages, which the update frees.
			long := "old-session-99aa88bb" + strings.Repeat("s", 7000)
			old := map[string]string{"X-Api-Key": "old-api-key-4455667788", "X-Session-Id": long}
			raw := `[{"name":"X-Api-Key","value":"old-api-key-4455667788"},{"name":"X-Env","value":"prod"},{"name":"X-Session-Id","value":"` + long + `"}]`
			if err := s.DB().Exec("UPDATE webhooks SET headers = ? WHERE id = ?", raw, w.ID).Error; err != nil {
				t.Fatal(err)
			}
			var files []string
			if d == models.DialectSQLite {
				files = []string{strings.TrimPrefix(dbURL, "sqlite:"), strings.TrimPrefix(dbURL, "sqlite:") + "-wal"}
				if err := s.DB().Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error; err != nil {
					t.Fatal(err)
				}
				if b, err := os.ReadFile(files[0]); err != nil || !bytes.Contains(b, []byte(old["X-Api-Key"])) {
					t.Fatalf("the old row is not in the database file (%v): the test would prove nothing", err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			for round := range 2 { // a second start finds nothing left to migrate
				s := storetest.OpenURL(t, dbURL)
				got, err := s.FindWebhookByID(ctx, w.ID)
				if err != nil {
					t.Fatal(err)
				}
				opened, err := s.WebhookHeaderSecrets(got)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range got.Headers.V {
					want, secret := old[h.Name]
					switch {
					case secret && (!h.Secret || h.Value != "" || opened[h.Name].Reveal() != want):
						t.Errorf("round %d: header %s = %+v, opened %q, want it secret and sealed", round, h.Name, h, opened[h.Name].Reveal())
					case !secret && (h.Secret || h.Value != "prod"):
						t.Errorf("round %d: header %s = %+v, want it left as it was", round, h.Name, h)
					}
				}
				var cols []string
				if err := s.DB().Raw("SELECT headers FROM webhooks").Scan(&cols).Error; err != nil {
					t.Fatal(err)
				}
				for _, v := range old {
					if slices.ContainsFunc(cols, func(c string) bool { return strings.Contains(c, v) }) {
						t.Errorf("round %d: the headers column still holds %s", round, v)
					}
				}
				for _, file := range files {
					b, err := os.ReadFile(file)
					if err != nil && !os.IsNotExist(err) {
						t.Fatal(err)
					}
					for _, v := range old {
						if bytes.Contains(b, []byte(v[:22])) {
							t.Errorf("round %d: %s still holds %s", round, file, v[:22])
						}
					}
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
