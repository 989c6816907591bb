package models_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

// TestExtendLeases: only the PENDING deliveries of the tokens asked for whose lease runs out
// before soon are extended, and their tokens come back once each.
func TestExtendLeases(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		hook := storetest.Webhook(t, s, nil)
		storetest.Deliveries(t, s, hook, 4, nil)
		a, err := s.ClaimDeliveries(ctx, "a", 3, 0, time.Minute, nil)
		if err != nil || len(a) != 3 {
			t.Fatalf("claim a: %d, %v", len(a), err)
		}
		if b, err := s.ClaimDeliveries(ctx, "b", 1, 0, time.Minute, nil); err != nil || len(b) != 1 {
			t.Fatalf("claim b: %d, %v", len(b), err)
		}
		if err := s.ReleaseLeases(ctx, "a", []string{a[2].Delivery.ID}); err != nil {
			t.Fatal(err)
		}
		now := s.Now()
		if got, err := s.ExtendLeases(ctx, []string{"a", "b"}, now, now.Add(time.Hour)); err != nil || len(got) != 0 {
			t.Fatalf("leases not near their end: extended %v, %v", got, err)
		}
		until := now.Add(time.Hour).Truncate(time.Second)
		got, err := s.ExtendLeases(ctx, []string{"a", "zzz"}, now.Add(2*time.Minute), until)
		if err != nil || !slices.Equal(got, []string{"a"}) {
			t.Fatalf("extended %v, %v; want [a]", got, err)
		}
		var ds []models.Delivery
		if err := s.DB().Order("id").Find(&ds).Error; err != nil {
			t.Fatal(err)
		}
		extended := 0
		for _, d := range ds {
			switch {
			case d.LeaseExpiresAt != nil && d.LeaseExpiresAt.Equal(until):
				extended++
				if *d.LeaseToken != "a" {
					t.Errorf("delivery of token %s extended", *d.LeaseToken)
				}
			case d.LeaseToken != nil && *d.LeaseToken == "a":
				t.Errorf("a delivery of token a not extended: expires %v", d.LeaseExpiresAt)
			}
		}
		if extended != 2 {
			t.Errorf("%d deliveries extended, want a's two still leased", extended)
		}

		// A lease already run out is extended too (the worker still holds its delivery); a
		// delivery no longer PENDING is not.
		if err := s.DB().Model(&models.Delivery{}).Where("id = ?", a[0].Delivery.ID).Update("lease_expires_at", now.Add(-time.Second)).Error; err != nil {
			t.Fatal(err)
		}
		if err := s.DB().Model(&models.Delivery{}).Where("id = ?", a[1].Delivery.ID).Updates(map[string]any{"status": models.DeliveryCancelled, "lease_expires_at": now}).Error; err != nil {
			t.Fatal(err)
		}
		later := until.Add(time.Hour)
		if got, err := s.ExtendLeases(ctx, []string{"a"}, until.Add(time.Minute), later); err != nil || !slices.Equal(got, []string{"a"}) {
			t.Fatalf("extended %v, %v; want [a]", got, err)
		}
		var expired, cancelled models.Delivery
		if err := s.DB().Take(&expired, "id = ?", a[0].Delivery.ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := s.DB().Take(&cancelled, "id = ?", a[1].Delivery.ID).Error; err != nil {
			t.Fatal(err)
		}
		if !expired.LeaseExpiresAt.Equal(later) || cancelled.LeaseExpiresAt.Equal(later) {
			t.Errorf("run-out lease now %v (want %v); cancelled delivery's %v (want unchanged)", expired.LeaseExpiresAt, later, cancelled.LeaseExpiresAt)
		}
	})
}
