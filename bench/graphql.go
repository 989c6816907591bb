package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// gqlClient calls Herald's GraphQL endpoint with an API token.
type gqlClient struct {
	url   string
	token string
	http  *http.Client
}

// do runs one operation and decodes its data into out; GraphQL errors become a Go error that
// names the operation and the first error's code.
func (c *gqlClient) do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("graphql: status %d: %.200s", resp.StatusCode, raw)
	}
	if len(env.Errors) > 0 {
		e := env.Errors[0]
		return fmt.Errorf("graphql %s: %s (%v)", opName(query), e.Message, e.Extensions["code"])
	}
	return json.Unmarshal(env.Data, out)
}

// opName returns the first word after "mutation"/"query" for error messages.
func opName(q string) string {
	f := strings.Fields(q)
	if len(f) > 1 {
		return strings.TrimRight(f[1], "({")
	}
	return q
}

// hook is one webhook the tool created: its sink path index, Herald id and signing secret.
type hook struct {
	Index  int
	ID     string
	Secret string
}

// integration is one incoming-API token and the indexes of the webhooks each alert posted
// with it must reach (the ones covering its service).
type integration struct {
	Token string
	Hooks []int
}

// topology is what setUp created.
type topology struct {
	Hooks        []hook
	Integrations []integration
}

// maxPerTarget is Herald's limit of webhooks per scope target (SPEC §4).
const maxPerTarget = 5

// bodyTemplate is the small JSON body every webhook sends; the sink reads the title back.
const bodyTemplate = `{"title":"{{incident.title}}","incident":"{{incident.id}}","event":"{{webhook.event}}"}`

// setUp creates a fresh team, the services, n webhooks pointing at sinkURL/h/INDEX and
// nInteg integrations. The first 5 webhooks are TEAM-scoped, the rest SERVICE-scoped, 5 per
// service; integrations are spread over the services (or one bare service when every webhook
// is TEAM-scoped), so an alert causes the team's webhooks plus its service's. A fresh team per
// run keeps earlier runs' webhooks (on a reused database) out of the count.
func setUp(ctx context.Context, c *gqlClient, runID string, n, nInteg int, sinkURL string) (*topology, error) {
	var team struct {
		CreateTeam struct{ ID string } `json:"createTeam"`
	}
	if err := c.do(ctx, `mutation createTeam($n: String!) { createTeam(name: $n) { id } }`,
		map[string]any{"n": "bench " + runID}, &team); err != nil {
		return nil, err
	}
	teamID := team.CreateTeam.ID
	teamHooks := min(n, maxPerTarget)
	nServices := max(1, (n-teamHooks+maxPerTarget-1)/maxPerTarget)
	services := make([]string, nServices)
	perService := make([][]int, nServices)
	for i := range services {
		var svc struct {
			CreateService struct{ ID string } `json:"createService"`
		}
		if err := c.do(ctx, `mutation createService($t: ID!, $n: String!) { createService(teamId: $t, name: $n) { id } }`,
			map[string]any{"t": teamID, "n": fmt.Sprintf("bench %s s%d", runID, i)}, &svc); err != nil {
			return nil, err
		}
		services[i] = svc.CreateService.ID
	}
	topo := &topology{}
	for i := range n {
		in := map[string]any{
			"name":         fmt.Sprintf("bench %d", i),
			"events":       []string{"INCIDENT_CREATED"},
			"urls":         []string{fmt.Sprintf("%s/h/%d", sinkURL, i)},
			"signing":      map[string]any{"scheme": "STANDARD_WEBHOOKS"},
			"contentType":  "JSON",
			"bodyTemplate": bodyTemplate,
			"retryCount":   3,
		}
		if i < teamHooks {
			in["scope"], in["teamId"] = "TEAM", teamID
		} else {
			s := (i - teamHooks) / maxPerTarget
			in["scope"], in["serviceId"] = "SERVICE", services[s]
			perService[s] = append(perService[s], i)
		}
		var res struct {
			CreateWebhook struct {
				Webhook       struct{ ID, Status string }
				SigningSecret string
			} `json:"createWebhook"`
		}
		if err := c.do(ctx, `mutation createWebhook($in: WebhookInput!) { createWebhook(input: $in) { webhook { id status } signingSecret } }`,
			map[string]any{"in": in}, &res); err != nil {
			return nil, err
		}
		if res.CreateWebhook.Webhook.Status != "ACTIVE" {
			return nil, fmt.Errorf("webhook %d created %s, not ACTIVE", i, res.CreateWebhook.Webhook.Status)
		}
		topo.Hooks = append(topo.Hooks, hook{Index: i, ID: res.CreateWebhook.Webhook.ID, Secret: res.CreateWebhook.SigningSecret})
	}
	for i := range nInteg {
		s := i % nServices
		var res struct {
			CreateIntegration struct{ Token string } `json:"createIntegration"`
		}
		if err := c.do(ctx, `mutation createIntegration($s: ID!, $n: String!, $f: ApiFilterInput) { createIntegration(serviceId: $s, name: $n, apiFilter: $f) { token processUrl } }`,
			map[string]any{"s": services[s], "n": fmt.Sprintf("bench %d", i), "f": map[string]any{"titleKey": "title"}}, &res); err != nil {
			return nil, err
		}
		hooks := make([]int, 0, teamHooks+len(perService[s]))
		for h := range teamHooks {
			hooks = append(hooks, h)
		}
		topo.Integrations = append(topo.Integrations, integration{Token: res.CreateIntegration.Token, Hooks: append(hooks, perService[s]...)})
	}
	return topo, nil
}
