package models

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-hq/herald/models/hub"
)

// AttemptChannel is the PostgreSQL NOTIFY channel that carries the ids of completed attempts.
const AttemptChannel = "herald_attempts"

// RevocationChannel is the PostgreSQL NOTIFY channel that carries the id of each revoked API
// token (never the token itself).
const RevocationChannel = "herald_revocations"

// Hub returns the store's hub of completed attempts.
func (s *Store) Hub() *hub.Hub { return s.hub }

// announceAttempts publishes attempts after the commit that stored them: on SQLite straight to
// the local hub; on PostgreSQL through a coalesced NOTIFY, which every process's Listen loop
// (this one's included) publishes to its hub. Live logs are best effort: an attempt whose
// NOTIFY is lost (the process dies between commit and send, or the statement fails) is not
// pushed to subscribers, though it is stored and shown by the delivery log's next read.
func (s *Store) announceAttempts(ids ...string) {
	if s.notifier == nil {
		s.hub.Publish(ids...)
		return
	}
	s.notifier.add(false, ids)
}

// Listen follows PostgreSQL's notifications until ctx ends: new deliveries wake the worker,
// completed attempts reach the hub, webhook status changes the status hub, revoked tokens
// end their watches and changed integrations are forgotten. It reconnects after a lost
// connection and returns at once on SQLite, where everything happens in one process.
func (s *Store) Listen(ctx context.Context) {
	if s.dialect != DialectPostgres {
		return
	}
	for ctx.Err() == nil {
		if err := s.listenOnce(ctx); err != nil && ctx.Err() == nil {
			s.logger.WarnContext(ctx, "listen for notifications", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	for _, ch := range []string{DeliveryChannel, AttemptChannel, StatusChannel, RevocationChannel, IntegrationChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	// Integrations are remembered only while their changes can be heard.
	s.integrations.enable(true)
	defer s.integrations.enable(false)
	// Work may have been announced, and tokens revoked, while no connection listened.
	s.WakeWorker()
	if err := s.recheckWatchedTokens(ctx); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		switch n.Channel {
		case DeliveryChannel:
			s.WakeWorker()
		case AttemptChannel:
			// A payload carries the comma-separated ids of the attempts of one flush,
			// published together so that each subscriber is notified once.
			s.hub.Publish(slices.DeleteFunc(strings.Split(n.Payload, ","), func(id string) bool { return id == "" })...)
		case StatusChannel:
			s.statusHub.Publish(slices.DeleteFunc(strings.Split(n.Payload, ","), func(id string) bool { return id == "" })...)
		case RevocationChannel:
			s.hub.Revoke(n.Payload)
		case IntegrationChannel:
			s.integrations.purge()
		}
	}
}
