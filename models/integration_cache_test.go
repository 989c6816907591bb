package models_test

import (
	"context"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/payload"
	"github.com/herald-hq/herald/models/storetest"
)

// TestIntegrationChangesReachEveryProcess checks that an alert is judged by the integration as
// it is now, though integrations are remembered by token: a rename, a new filter and a
// revocation made in one process are seen by another at once, while it listens and while it
// does not.
func TestIntegrationChangesReachEveryProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := storetest.URL(t, models.DialectPostgres)
	api, other := storetest.OpenURL(t, dbURL), storetest.OpenURL(t, dbURL)
	w := newIncWorld(t, api)
	listenCtx, stopListen := context.WithCancel(ctx)
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		other.Listen(listenCtx)
	}()
	t.Cleanup(func() {
		stopListen()
		<-listening
	})

	heardAll := listenerCaughtUp(t, api, other)
	find := func(token string) *models.Integration {
		t.Helper()
		in, err := other.FindIntegrationByToken(ctx, token)
		if err != nil {
			t.Fatalf("find integration: %v", err)
		}
		return in
	}
	heardAll()

	in, token, err := api.CreateIntegration(ctx, w.svcA1.ID, "Grafana", payload.APIFilter{TitleKey: "title"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got := find(token); got.ID != in.ID || got.Name != "Grafana" || got.APIFilter.V.TitleKey != "title" {
			t.Fatalf("integration = %+v", got)
		}
	}
	renamed, filter := "Grafana EU", payload.APIFilter{TitleKey: "alert.name"}
	if _, err := api.UpdateIntegration(ctx, in.ID, &renamed, &filter); err != nil {
		t.Fatal(err)
	}
	heardAll()
	if got := find(token); got.Name != renamed || got.APIFilter.V.TitleKey != "alert.name" {
		t.Fatalf("after an update in another process: %+v", got)
	}
	res, err := other.Ingest(ctx, find(token), "", []byte(`{"alert":{"name":"Disk full"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if inc, err := other.FindIncidentByID(ctx, res.IncidentID); err != nil || inc.Title != "Disk full" {
		t.Fatalf("incident %+v, %v: not titled by the new filter", inc, err)
	}
	if err := api.RevokeIntegration(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	heardAll()
	_, err = other.FindIntegrationByToken(ctx, token)
	wantCode(t, err, models.CodeUnauthenticated)

	// Not listening, the other store cannot hear of changes, so it asks the database each time.
	in2, token2, err := api.CreateIntegration(ctx, w.svcA1.ID, "Zabbix", payload.APIFilter{TitleKey: "title"})
	if err != nil {
		t.Fatal(err)
	}
	find(token2)
	stopListen()
	<-listening
	if err := api.RevokeIntegration(ctx, in2.ID); err != nil {
		t.Fatal(err)
	}
	_, err = other.FindIntegrationByToken(ctx, token2)
	wantCode(t, err, models.CodeUnauthenticated)
}

// TestIntegrationChangesInOneProcess is the same within one store, on both databases.
func TestIntegrationChangesInOneProcess(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		w := newIncWorld(t, s)
		in, token, err := s.CreateIntegration(ctx, w.svcA1.ID, "Grafana", payload.APIFilter{TitleKey: "title"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.FindIntegrationByToken(ctx, token); err != nil {
			t.Fatal(err)
		}
		renamed := "Grafana EU"
		if _, err := s.UpdateIntegration(ctx, in.ID, &renamed, nil); err != nil {
			t.Fatal(err)
		}
		if got, err := s.FindIntegrationByToken(ctx, token); err != nil || got.Name != renamed {
			t.Fatalf("after an update: %+v, %v", got, err)
		}
		if err := s.RevokeIntegration(ctx, in.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.FindIntegrationByToken(ctx, token)
		wantCode(t, err, models.CodeUnauthenticated)
	})
}
