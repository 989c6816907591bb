// Package graph is Herald's GraphQL API (SPEC §8), served by gqlgen at /query over HTTP and
// websockets. Its resolvers only translate: authorise the caller, call the store, map the
// answer to the API's types.
//
// It owns, file by file: resolver.go, the dependencies; schema.resolvers.go, the resolvers
// whose shape gqlgen generates, kept thin (gqlgen moves any other code out of them on
// regeneration); one file of helpers per domain (teams.go, webhooks.go, incidents.go,
// integrations.go, deliveries.go, and map.go for what they share; preview.go for
// renderPreview and placeholders; subscription.go and attempt_loader.go for the live
// streams); auth.go, authentication by API token over HTTP and websockets; authz.go, every
// authorization rule; guard.go, the gqlgen guards and the one error presenter of the GraphQL
// edge; handler.go, the endpoint and its transports (the websocket one is graph/gorillaws).
//
// It must not talk SQL (the store in models does), hold webhook rules (models/webhook),
// send webhooks itself (testWebhook asks the worker) or serve the incoming REST API
// (graph/ingest).
package graph
