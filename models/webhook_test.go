package models_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/worker/egress"
)

// webhookFixture is a team with a service, for webhook tests.
type webhookFixture struct {
	s       *models.Store
	team    *models.Team
	service *models.Service
}

func setupWebhooks(t *testing.T, s *models.Store) webhookFixture {
	t.Helper()
	ctx := context.Background()
	team, err := s.CreateTeam(ctx, storetest.Name("team"))
	if err != nil {
		t.Fatalf("create team: %v", err)
	}
	sv, err := s.CreateService(ctx, team.ID, "api")
	if err != nil {
		t.Fatalf("create service: %v", err)
	}
	return webhookFixture{s: s, team: team, service: sv}
}

// validSpec returns a TEAM webhook specification that passes every rule.
func validWebhookSpec(teamID string) webhook.Spec {
	return webhook.Spec{
		Name:                 "Chat",
		Scope:                webhook.ScopeTeam,
		TeamID:               &teamID,
		Events:               []string{webhook.EventCreated, webhook.EventResolved},
		URLs:                 []string{"https://example.com/hook", "http://10.0.0.1:8080/x?y=1"},
		Method:               webhook.MethodPost,
		Headers:              []webhook.KV{{Name: "X-Env", Value: "prod"}},
		SendDataUsing:        webhook.SendBody,
		ContentType:          webhook.ContentJSON,
		RetryCount:           webhook.DefaultRetryCount,
		RetryIntervalMinutes: webhook.DefaultRetryIntervalMinutes,
		TimeoutSeconds:       webhook.DefaultTimeoutSeconds,
	}
}

func whPtr[T any](v T) *T { return &v }

func wantWebhookErr(t *testing.T, err error, code, field string) {
	t.Helper()
	var e *models.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want a %s error", err, code)
	}
	if e.Code != code || e.Field != field {
		t.Fatalf("err = %s %q (%s), want %s %q", e.Code, e.Field, e.Message, code, field)
	}
}

func countWebhookRows(t *testing.T, s *models.Store) int64 {
	t.Helper()
	var n int64
	if err := s.DB().Model(&models.Webhook{}).Count(&n).Error; err != nil {
		t.Fatalf("count webhooks: %v", err)
	}
	return n
}

func nestedWebhookFilter(depth int) *webhook.Filter {
	f := &webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{{Field: webhook.FilterUrgency, Operator: webhook.FilterIs, Value: webhook.UrgencyHigh}}}
	for range depth - 1 {
		f = &webhook.Filter{Join: webhook.FilterOr, Groups: []*webhook.Filter{f}}
	}
	return f
}

func TestCreateWebhookValidation(t *testing.T) {
	t.Parallel()
	tooManyHeaders := make([]webhook.KV, webhook.MaxWebhookHeaders+1)
	for i := range tooManyHeaders {
		tooManyHeaders[i] = webhook.KV{Name: fmt.Sprintf("X-H%d", i), Value: "v"}
	}
	wantRefusals(t, map[string]refusal{
		"name empty":           {func(_ webhookFixture, w *webhook.Spec) { w.Name = "  " }, "name", ""},
		"name too long":        {func(_ webhookFixture, w *webhook.Spec) { w.Name = strings.Repeat("é", 201) }, "name", ""},
		"description too long": {func(_ webhookFixture, w *webhook.Spec) { w.Description = whPtr(strings.Repeat("d", 2001)) }, "description", ""},
		"scope unknown":        {func(_ webhookFixture, w *webhook.Spec) { w.Scope = "WORLD" }, "scope", ""},
		"global with team":     {func(_ webhookFixture, w *webhook.Spec) { w.Scope = webhook.ScopeGlobal }, "teamId", ""},
		"team empty id":        {func(_ webhookFixture, w *webhook.Spec) { w.TeamID = whPtr("") }, "teamId", ""},
		"global with service": {func(f webhookFixture, w *webhook.Spec) {
			w.Scope, w.TeamID, w.ServiceID = webhook.ScopeGlobal, nil, &f.service.ID
		}, "serviceId", ""},
		"team without team":  {func(_ webhookFixture, w *webhook.Spec) { w.TeamID = nil }, "teamId", ""},
		"team unknown":       {func(_ webhookFixture, w *webhook.Spec) { w.TeamID = whPtr("nope") }, "teamId", "not found"},
		"team with service":  {func(f webhookFixture, w *webhook.Spec) { w.ServiceID = &f.service.ID }, "serviceId", ""},
		"service without id": {func(_ webhookFixture, w *webhook.Spec) { w.Scope, w.TeamID = webhook.ScopeService, nil }, "serviceId", ""},
		"service unknown": {func(_ webhookFixture, w *webhook.Spec) {
			w.Scope, w.TeamID, w.ServiceID = webhook.ScopeService, nil, whPtr("nope")
		}, "serviceId", "not found"},
		"service other team": {func(f webhookFixture, w *webhook.Spec) {
			w.Scope, w.TeamID, w.ServiceID = webhook.ScopeService, whPtr("other"), &f.service.ID
		}, "teamId", ""},
		"events none":    {func(_ webhookFixture, w *webhook.Spec) { w.Events = nil }, "events", ""},
		"events unknown": {func(_ webhookFixture, w *webhook.Spec) { w.Events = []string{"INCIDENT_EXPLODED"} }, "events[0]", ""},
		"events duplicate": {func(_ webhookFixture, w *webhook.Spec) {
			w.Events = []string{webhook.EventCreated, webhook.EventCreated}
		}, "events[1]", ""},
		"urls none": {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{} }, "urls", ""},
		"urls six": {func(_ webhookFixture, w *webhook.Spec) {
			w.URLs = strings.Split("http://a/1 http://a/2 http://a/3 http://a/4 http://a/5 http://a/6", " ")
		}, "urls", ""},
		"url relative":     {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"/hook"} }, "urls[0]", ""},
		"url ftp":          {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"ftp://example.com/x"} }, "urls[0]", ""},
		"url without host": {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"http:///path"} }, "urls[0]", ""},
		"url opaque":       {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"http:example.com"} }, "urls[0]", ""},
		"url userinfo":     {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"https://u:p@example.com/"} }, "urls[0]", ""},
		"url unparsable": {func(_ webhookFixture, w *webhook.Spec) {
			w.URLs = []string{"http://a/1", "http://a/2", "http://[::1/"}
		}, "urls[2]", ""},
		"url duplicate":    {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"http://a/1", "http://a/1"} }, "urls[1]", ""},
		"url port too big": {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"http://e.com:99999/"} }, "urls[0]", "port"},
		"url port zero":    {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"http://e.com:0/"} }, "urls[0]", "port"},
		"url port overflow": {func(_ webhookFixture, w *webhook.Spec) {
			w.URLs = []string{"http://a/1", "https://e.com:18446744073709551617/"}
		}, "urls[1]", "port"},
		"url space in path":    {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"http://e.com/a b"} }, "urls[0]", "%20"},
		"url space in query":   {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"http://e.com/?q=a b"} }, "urls[0]", "%20"},
		"url trailing space":   {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"https://e.com/hook "} }, "urls[0]", "space"},
		"url no-break space":   {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"https://e.com/a\u00a0b"} }, "urls[0]", "space"},
		"url tab":              {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"https://e.com/a\tb"} }, "urls[0]", "control"},
		"url control":          {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"https://e.com/a\x01"} }, "urls[0]", "control"},
		"url DEL":              {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"https://e.com/a\x7f"} }, "urls[0]", "control"},
		"url port no host":     {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"http://:8080/"} }, "urls[0]", "host"},
		"url username only":    {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"https://token@e.com/"} }, "urls[0]", "auth"},
		"method unknown":       {func(_ webhookFixture, w *webhook.Spec) { w.Method = "TRACE" }, "method", ""},
		"get with body":        {func(_ webhookFixture, w *webhook.Spec) { w.Method = webhook.MethodGet }, "sendDataUsing", ""},
		"send unknown":         {func(_ webhookFixture, w *webhook.Spec) { w.SendDataUsing = "CARRIER_PIGEON" }, "sendDataUsing", ""},
		"content type unknown": {func(_ webhookFixture, w *webhook.Spec) { w.ContentType = "XML" }, "contentType", ""},
		"auth type unknown":    {func(_ webhookFixture, w *webhook.Spec) { w.Auth = webhook.Auth{Type: "KERBEROS"} }, "auth.type", ""},
		"basic no username": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthBasic, Password: "pw"}
		}, "auth.username", ""},
		"basic no password": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthBasic, Username: "u"}
		}, "auth.password", ""},
		"basic colon username": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthBasic, Username: "a:b", Password: "pw"}
		}, "auth.username", ""},
		"basic with token": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthBasic, Username: "u", Password: "pw", Token: "t"}
		}, "auth.token", ""},
		"api key no key": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Value: "v", Placement: webhook.PlacementHeader}
		}, "auth.key", ""},
		"api key no value": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "X-Key", Placement: webhook.PlacementHeader}
		}, "auth.value", ""},
		"api key no placement": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "X-Key", Value: "v"}
		}, "auth.placement", ""},
		"api key bad placement": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "X-Key", Value: "v", Placement: "BODY"}
		}, "auth.placement", ""},
		"api key header not token": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "X Key", Value: "v", Placement: webhook.PlacementHeader}
		}, "auth.key", ""},
		"api key header host": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "Host", Value: "v", Placement: webhook.PlacementHeader}
		}, "auth.key", ""},
		"api key header user-agent": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "User-Agent", Value: "v", Placement: webhook.PlacementHeader}
		}, "auth.key", "Herald"},
		"api key header content-type": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "content-type", Value: "v", Placement: webhook.PlacementHeader}
		}, "auth.key", "body"},
		"api key header upgrade": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "Upgrade", Value: "v", Placement: webhook.PlacementHeader}
		}, "auth.key", "connection"},
		"api key header is the signature header": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "X-Sig", Value: "v", Placement: webhook.PlacementHeader}
			w.Signing = webhook.Signing{Scheme: "HMAC_SHA512", HeaderName: "x-sig"}
		}, "auth.key", "signature"},
		"api key header value control": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "X-Key", Value: "k\x01ey", Placement: webhook.PlacementHeader}
		}, "auth.value", "control"},
		"api key header value newline": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "X-Key", Value: "v\r\nX: y", Placement: webhook.PlacementHeader}
		}, "auth.value", ""},
		"bearer no token": {func(_ webhookFixture, w *webhook.Spec) { w.Auth = webhook.Auth{Type: webhook.AuthBearer} }, "auth.token", ""},
		"bearer token newline": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthBearer, Token: "a\nb"}
		}, "auth.token", ""},
		"bearer token DEL": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthBearer, Token: "tok\x7f"}
		}, "auth.token", "control"},
		"bearer with username": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthBearer, Token: "t", Username: "u"}
		}, "auth.username", ""},
		"none with password": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthNone, Password: "pw"}
		}, "auth.password", ""},
		"none with placement": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Placement: webhook.PlacementQuery}
		}, "auth.placement", ""},
		"headers too many":  {func(_ webhookFixture, w *webhook.Spec) { w.Headers = tooManyHeaders }, "headers", ""},
		"header name empty": {func(_ webhookFixture, w *webhook.Spec) { w.Headers = []webhook.KV{{Name: "", Value: "v"}} }, "headers[0].name", ""},
		"header name space": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "X-A", Value: "1"}, {Name: "X B", Value: "v"}}
		}, "headers[1].name", ""},
		"header name colon": {func(_ webhookFixture, w *webhook.Spec) { w.Headers = []webhook.KV{{Name: "X:B", Value: "v"}} }, "headers[0].name", ""},
		"header value CR LF": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "X-A", Value: "a\r\nEvil: 1"}}
		}, "headers[0].value", ""},
		"header value NUL": {func(_ webhookFixture, w *webhook.Spec) { w.Headers = []webhook.KV{{Name: "X-A", Value: "a\x00"}} }, "headers[0].value", ""},
		"header value SOH": {func(_ webhookFixture, w *webhook.Spec) { w.Headers = []webhook.KV{{Name: "X-A", Value: "a\x01b"}} }, "headers[0].value", "control"},
		"header value ESC": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "X-A", Value: "ok"}, {Name: "X-B", Value: "\x1b[31mred"}}
		}, "headers[1].value", "control"},
		"header value DEL": {func(_ webhookFixture, w *webhook.Spec) { w.Headers = []webhook.KV{{Name: "X-A", Value: "a\x7f"}} }, "headers[0].value", "control"},
		"header value too long": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "X-A", Value: strings.Repeat("v", 8193)}}
		}, "headers[0].value", ""},
		"header host": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "X-A", Value: "1"}, {Name: "X-B", Value: "2"}, {Name: "X-C", Value: "3"}, {Name: "Host", Value: "evil"}}
		}, "headers[3].name", ""},
		"header content-length": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "content-length", Value: "1"}}
		}, "headers[0].name", ""},
		"header transfer-encoding": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "Transfer-Encoding", Value: "chunked"}}
		}, "headers[0].name", ""},
		"header connection": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "CONNECTION", Value: "close"}}
		}, "headers[0].name", ""},
		"header user-agent": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "X-A", Value: "1"}, {Name: "user-agent", Value: "MyBot/1.0"}}
		}, "headers[1].name", "set by Herald"},
		"header upgrade": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "Upgrade", Value: "websocket"}}
		}, "headers[0].name", "connection"},
		"header keep-alive": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "Keep-Alive", Value: "timeout=5"}}
		}, "headers[0].name", "connection"},
		"header proxy-connection": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "Proxy-Connection", Value: "keep-alive"}}
		}, "headers[0].name", "connection"},
		"header te": {func(_ webhookFixture, w *webhook.Spec) { w.Headers = []webhook.KV{{Name: "TE", Value: "gzip"}} }, "headers[0].name", "connection"},
		"header trailer": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "Trailer", Value: "X-Checksum"}}
		}, "headers[0].name", "connection"},
		"header duplicate": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "X-A", Value: "1"}, {Name: "x-a", Value: "2"}}
		}, "headers[1].name", ""},
		"header authorization with bearer": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthBearer, Token: "t"}
			w.Headers = []webhook.KV{{Name: "authorization", Value: "x"}}
		}, "headers[0].name", "auth"},
		"header authorization with basic": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthBasic, Username: "u", Password: "p"}
			w.Headers = []webhook.KV{{Name: "Authorization", Value: "x"}}
		}, "headers[0].name", "auth"},
		"header api key name": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "X-Api-Key", Value: "v", Placement: webhook.PlacementHeader}
			w.Headers = []webhook.KV{{Name: "x-api-key", Value: "x"}}
		}, "headers[0].name", "auth"},
		"header hmac sha512 name": {func(_ webhookFixture, w *webhook.Spec) {
			w.Signing = webhook.Signing{Scheme: "HMAC_SHA512", HeaderName: "X-Herald-Signature"}
			w.Headers = []webhook.KV{{Name: "X-HERALD-SIGNATURE", Value: "x"}}
		}, "headers[0].name", "signature"},
		"header hmac sha256 name": {func(_ webhookFixture, w *webhook.Spec) {
			w.Signing = webhook.Signing{Scheme: "HMAC_SHA256"}
			w.Headers = []webhook.KV{{Name: "x-signature", Value: "x"}}
		}, "headers[0].name", "signature"},
		"header standard webhooks name": {func(_ webhookFixture, w *webhook.Spec) {
			w.Signing = webhook.Signing{Scheme: "STANDARD_WEBHOOKS"}
			w.Headers = []webhook.KV{{Name: "Webhook-Timestamp", Value: "x"}}
		}, "headers[0].name", "signature"},
		"header webhook-id": {func(_ webhookFixture, w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "webhook-id", Value: "x"}}
		}, "headers[0].name", ""},
		"signing unknown":   {func(_ webhookFixture, w *webhook.Spec) { w.Signing = webhook.Signing{Scheme: "MD5"} }, "signing.scheme", ""},
		"hmac512 no header": {func(_ webhookFixture, w *webhook.Spec) { w.Signing = webhook.Signing{Scheme: "HMAC_SHA512"} }, "signing.headerName", ""},
		"hmac512 bad header": {func(_ webhookFixture, w *webhook.Spec) {
			w.Signing = webhook.Signing{Scheme: "HMAC_SHA512", HeaderName: "X Sig"}
		}, "signing.headerName", ""},
		"hmac512 reserved header": {func(_ webhookFixture, w *webhook.Spec) {
			w.Signing = webhook.Signing{Scheme: "HMAC_SHA512", HeaderName: "Content-Length"}
		}, "signing.headerName", ""},
		"hmac512 user-agent header": {func(_ webhookFixture, w *webhook.Spec) {
			w.Signing = webhook.Signing{Scheme: "HMAC_SHA512", HeaderName: "user-agent"}
		}, "signing.headerName", "choose another name"},
		"hmac512 content-type header": {func(_ webhookFixture, w *webhook.Spec) {
			w.Signing = webhook.Signing{Scheme: "HMAC_SHA512", HeaderName: "Content-Type"}
		}, "signing.headerName", "choose another name"},
		"hmac512 authorization header": {func(_ webhookFixture, w *webhook.Spec) {
			w.Signing = webhook.Signing{Scheme: "HMAC_SHA512", HeaderName: "AUTHORIZATION"}
		}, "signing.headerName", "choose another name"},
		"hmac512 webhook-signature header": {func(_ webhookFixture, w *webhook.Spec) {
			w.Signing = webhook.Signing{Scheme: "HMAC_SHA512", HeaderName: "Webhook-Signature"}
		}, "signing.headerName", "choose another name"},
		"hmac512 keep-alive header": {func(_ webhookFixture, w *webhook.Spec) {
			w.Signing = webhook.Signing{Scheme: "HMAC_SHA512", HeaderName: "Keep-Alive"}
		}, "signing.headerName", "choose another name"},
		"hmac512 header not a token message": {func(_ webhookFixture, w *webhook.Spec) {
			w.Signing = webhook.Signing{Scheme: "HMAC_SHA512", HeaderName: "X-Sig:"}
		}, "signing.headerName", "HTTP token"},
		"hmac256 with header": {func(_ webhookFixture, w *webhook.Spec) {
			w.Signing = webhook.Signing{Scheme: "HMAC_SHA256", HeaderName: "X-Sig"}
		}, "signing.headerName", ""},
		"signing with query params": {func(_ webhookFixture, w *webhook.Spec) {
			w.Signing = webhook.Signing{Scheme: "STANDARD_WEBHOOKS"}
			w.SendDataUsing, w.QueryParams = webhook.SendQueryParams, []webhook.KV{{Name: "id", Value: "{{incident.id}}"}}
		}, "signing.scheme", ""},
		"query params none": {func(_ webhookFixture, w *webhook.Spec) { w.SendDataUsing = webhook.SendQueryParams }, "queryParams", ""},
		"query param name empty": {func(_ webhookFixture, w *webhook.Spec) {
			w.SendDataUsing, w.QueryParams = webhook.SendQueryParams, []webhook.KV{{Name: "id", Value: "1"}, {Name: " ", Value: "2"}}
		}, "queryParams[1].name", ""},
		"query param bad template": {func(_ webhookFixture, w *webhook.Spec) {
			w.Method, w.SendDataUsing = webhook.MethodGet, webhook.SendQueryParams
			w.QueryParams = []webhook.KV{{Name: "id", Value: "{{incident.id}}"}, {Name: "x", Value: "{{ nope }}"}}
		}, "queryParams[1].value", "line 1, column"},
		"query params with body": {func(_ webhookFixture, w *webhook.Spec) { w.QueryParams = []webhook.KV{{Name: "a", Value: "b"}} }, "queryParams", ""},
		"body template bad": {func(_ webhookFixture, w *webhook.Spec) {
			w.BodyTemplate = whPtr("{\n  \"a\": {{nope}}\n}")
		}, "bodyTemplate", "line 2, column 10"},
		"body template with query params": {func(_ webhookFixture, w *webhook.Spec) {
			w.SendDataUsing, w.QueryParams = webhook.SendQueryParams, []webhook.KV{{Name: "id", Value: "1"}}
			w.BodyTemplate = whPtr("{}")
		}, "bodyTemplate", ""},
		"extra field empty name": {func(_ webhookFixture, w *webhook.Spec) { w.ExtraFields = []webhook.KV{{Name: "", Value: "v"}} }, "extraFields[0].name", ""},
		"extra field duplicate": {func(_ webhookFixture, w *webhook.Spec) {
			w.ExtraFields = []webhook.KV{{Name: "env", Value: "1"}, {Name: "env", Value: "2"}}
		}, "extraFields[1].name", ""},
		"extra field envelope key": {func(_ webhookFixture, w *webhook.Spec) {
			w.ExtraFields = []webhook.KV{{Name: "incident", Value: "1"}}
		}, "extraFields[0].name", ""},
		"extra field envelope key2": {func(_ webhookFixture, w *webhook.Spec) {
			w.ExtraFields = []webhook.KV{{Name: "a", Value: "1"}, {Name: "deliveryId", Value: "1"}}
		}, "extraFields[1].name", ""},
		"extra fields with template": {func(_ webhookFixture, w *webhook.Spec) {
			w.BodyTemplate, w.ExtraFields = whPtr("{}"), []webhook.KV{{Name: "env", Value: "1"}}
		}, "extraFields", ""},
		"retry count negative": {func(_ webhookFixture, w *webhook.Spec) { w.RetryCount = -1 }, "retryCount", ""},
		"retry count five":     {func(_ webhookFixture, w *webhook.Spec) { w.RetryCount = 5 }, "retryCount", ""},
		"retry interval zero":  {func(_ webhookFixture, w *webhook.Spec) { w.RetryIntervalMinutes = 0 }, "retryIntervalMinutes", ""},
		"retry interval six":   {func(_ webhookFixture, w *webhook.Spec) { w.RetryIntervalMinutes = 6 }, "retryIntervalMinutes", ""},
		"timeout zero":         {func(_ webhookFixture, w *webhook.Spec) { w.TimeoutSeconds = 0 }, "timeoutSeconds", ""},
		"timeout thirty-one":   {func(_ webhookFixture, w *webhook.Spec) { w.TimeoutSeconds = 31 }, "timeoutSeconds", ""},
		"email invalid":        {func(_ webhookFixture, w *webhook.Spec) { w.FailureNotificationEmail = whPtr("not an address") }, "failureNotificationEmail", ""},
		"email with display name": {func(_ webhookFixture, w *webhook.Spec) {
			w.FailureNotificationEmail = whPtr("Ops <ops@example.com>")
		}, "failureNotificationEmail", ""},
		"filter join": {func(_ webhookFixture, w *webhook.Spec) {
			w.Filter = &webhook.Filter{Join: "XOR", Conditions: nestedWebhookFilter(1).Conditions}
		}, "filter.join", ""},
		"filter empty": {func(_ webhookFixture, w *webhook.Spec) { w.Filter = &webhook.Filter{Join: webhook.FilterAnd} }, "filter", ""},
		"filter empty inner group": {func(_ webhookFixture, w *webhook.Spec) {
			w.Filter = &webhook.Filter{Join: "AND", Groups: []*webhook.Filter{{Join: "OR"}}}
		}, "filter.groups[0]", ""},
		"filter field": {func(_ webhookFixture, w *webhook.Spec) {
			w.Filter = &webhook.Filter{Join: "AND", Conditions: []webhook.Condition{{Field: "TITLE", Operator: "IS", Value: "x"}}}
		}, "filter.conditions[0].field", ""},
		"filter operator": {func(_ webhookFixture, w *webhook.Spec) {
			w.Filter = &webhook.Filter{Join: "AND", Conditions: []webhook.Condition{{Field: "SERVICE", Operator: "LIKE", Value: "x"}}}
		}, "filter.conditions[0].operator", ""},
		"filter value empty": {func(_ webhookFixture, w *webhook.Spec) {
			w.Filter = &webhook.Filter{Join: "AND", Groups: []*webhook.Filter{{Join: "OR", Conditions: []webhook.Condition{
				{Field: "ALERT_SOURCE", Operator: "IS", Value: "grafana"}, {Field: "ALERT_SOURCE", Operator: "IS", Value: " "}}}}}
		}, "filter.groups[0].conditions[1].value", ""},
		"filter urgency value": {func(_ webhookFixture, w *webhook.Spec) {
			w.Filter = &webhook.Filter{Join: "AND", Conditions: []webhook.Condition{{Field: "URGENCY", Operator: "IS", Value: "MEDIUM"}}}
		}, "filter.conditions[0].value", ""},
		"filter too deep": {func(_ webhookFixture, w *webhook.Spec) { w.Filter = nestedWebhookFilter(6) }, "filter.groups[0].groups[0].groups[0].groups[0].groups[0]", ""},
	})
}

// refusal is a change to a valid webhook input that VALIDATION must refuse on field, with
// message part of its text (when it matters).
type refusal struct {
	change  func(f webhookFixture, w *webhook.Spec)
	field   string
	message string
}

// wantRefusals creates each case's webhook on every database and wants it refused as the case
// says, with nothing saved.
func wantRefusals(t *testing.T, tests map[string]refusal) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		f := setupWebhooks(t, s)
		ctx := context.Background()
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				spec := validWebhookSpec(f.team.ID)
				tc.change(f, &spec)
				_, _, err := s.CreateWebhook(ctx, spec)
				wantWebhookErr(t, err, models.CodeValidation, tc.field)
				if !strings.Contains(err.Error(), tc.message) {
					t.Errorf("message %q does not mention %q", err.Error(), tc.message)
				}
			})
		}
		if n := countWebhookRows(t, s); n != 0 {
			t.Fatalf("%d webhooks saved by refused creates", n)
		}
	})
}

func TestCreateWebhook(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		f := setupWebhooks(t, s)
		ctx := context.Background()

		spec := validWebhookSpec(f.team.ID)
		spec.Name = "  Chat  "
		spec.Description = whPtr("")
		spec.Filter = nestedWebhookFilter(webhook.MaxFilterDepth)
		spec.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "X-Api-Key", Value: "k3y", Placement: webhook.PlacementHeader}
		spec.Signing = webhook.Signing{Scheme: "STANDARD_WEBHOOKS"}
		spec.ExtraFields = []webhook.KV{{Name: "env", Value: "prod"}}
		w, secret, err := s.CreateWebhook(ctx, spec)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if !strings.HasPrefix(secret.Reveal(), "whsec_") {
			t.Errorf("secret %d chars, want whsec_…", len(secret.Reveal()))
		}
		got, err := s.FindWebhookByID(ctx, w.ID)
		if err != nil {
			t.Fatalf("find: %v", err)
		}
		if got.Name != "Chat" || got.Description != nil || got.Status != models.WebhookActive || got.Revision != 1 {
			t.Errorf("got name %q description %v status %s revision %d", got.Name, got.Description, got.Status, got.Revision)
		}
		if got.Filter.V == nil || len(got.Filter.V.Groups) != 1 || len(got.URLs.V) != 2 || got.ExtraFields.V[0].Name != "env" {
			t.Errorf("stored filter %+v urls %v extra %v", got.Filter.V, got.URLs.V, got.ExtraFields.V)
		}
		auth, signing, err := s.WebhookSecrets(ctx, got)
		if err != nil || auth.Reveal() != "k3y" || len(signing) != 1 || signing[0] != secret {
			t.Errorf("secrets: auth ok %v, %d signing, err %v", auth.Reveal() == "k3y", len(signing), err)
		}

		sv := validWebhookSpec("")
		sv.Scope, sv.TeamID, sv.ServiceID = webhook.ScopeService, nil, &f.service.ID
		sv.Method, sv.SendDataUsing = webhook.MethodGet, webhook.SendQueryParams
		sv.QueryParams = []webhook.KV{{Name: "id", Value: "{{incident.id}}"}, {Name: "id", Value: "{{ incident.title }}"}}
		ws, secret, err := s.CreateWebhook(ctx, sv)
		if err != nil {
			t.Fatalf("create service webhook: %v", err)
		}
		if secret != "" || ws.TeamID == nil || *ws.TeamID != f.team.ID {
			t.Errorf("service webhook: secret %v, team %v, want no secret and team %s", secret != "", ws.TeamID, f.team.ID)
		}

		gl := validWebhookSpec("")
		gl.Scope, gl.TeamID, gl.ServiceID = webhook.ScopeGlobal, whPtr(""), whPtr("")
		gl.Method, gl.SendDataUsing, gl.ContentType, gl.Auth.Type, gl.Signing.Scheme = "", "", "", "", ""
		wg, _, err := s.CreateWebhook(ctx, gl)
		if err != nil {
			t.Fatalf("create global webhook: %v", err)
		}
		if wg.Method != webhook.MethodPost || wg.SendDataUsing != webhook.SendBody || wg.ContentType != webhook.ContentJSON ||
			wg.AuthType != webhook.AuthNone || wg.SigningScheme != "NONE" || wg.TeamID != nil {
			t.Errorf("defaults: %s %s %s %s %s team %v", wg.Method, wg.SendDataUsing, wg.ContentType, wg.AuthType, wg.SigningScheme, wg.TeamID)
		}
	})
}

func TestCreateWebhookLimit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		f := setupWebhooks(t, s)
		ctx := context.Background()
		other, err := s.CreateTeam(ctx, storetest.Name("other"))
		if err != nil {
			t.Fatal(err)
		}
		otherService, err := s.CreateService(ctx, f.team.ID, "db")
		if err != nil {
			t.Fatal(err)
		}
		global := validWebhookSpec("")
		global.Scope, global.TeamID = webhook.ScopeGlobal, nil
		service := func(id string) webhook.Spec {
			w := validWebhookSpec("")
			w.Scope, w.TeamID, w.ServiceID = webhook.ScopeService, nil, &id
			return w
		}
		targets := map[string]webhook.Spec{
			"global":  global,
			"team":    validWebhookSpec(f.team.ID),
			"service": service(f.service.ID),
		}
		for name, spec := range targets {
			for i := range webhook.MaxWebhooksPerTarget {
				if _, _, err := s.CreateWebhook(ctx, spec); err != nil {
					t.Fatalf("%s webhook %d: %v", name, i+1, err)
				}
			}
			_, _, err := s.CreateWebhook(ctx, spec)
			wantWebhookErr(t, err, models.CodeLimitExceeded, "")
		}
		// Each target counts for itself: another team and another service of the full team
		// still take webhooks.
		for name, spec := range map[string]webhook.Spec{"other team": validWebhookSpec(other.ID), "other service": service(otherService.ID)} {
			if _, _, err := s.CreateWebhook(ctx, spec); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if n := countWebhookRows(t, s); n != 3*webhook.MaxWebhooksPerTarget+2 {
			t.Errorf("%d webhooks, want %d", n, 3*webhook.MaxWebhooksPerTarget+2)
		}
	})
}

func TestCreateWebhookLimitConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		f := setupWebhooks(t, s)
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 12)
		for range 12 {
			wg.Go(func() {
				_, _, err := s.CreateWebhook(ctx, validWebhookSpec(f.team.ID))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		created := 0
		for err := range errs {
			switch {
			case err == nil:
				created++
			case models.ErrorCode(err) != models.CodeLimitExceeded:
				t.Errorf("create: %v", err)
			}
		}
		if created != webhook.MaxWebhooksPerTarget {
			t.Errorf("%d concurrent creates passed, want %d", created, webhook.MaxWebhooksPerTarget)
		}
	})
}

func TestUpdateWebhook(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		f := setupWebhooks(t, s)
		ctx := context.Background()
		spec := validWebhookSpec(f.team.ID)
		spec.Description = whPtr("posts to chat")
		spec.Auth = webhook.Auth{Type: webhook.AuthBasic, Username: "bot", Password: "s3cret"}
		spec.FailureNotificationEmail = whPtr("ops@example.com")
		spec.Filter = nestedWebhookFilter(2)
		w, _, err := s.CreateWebhook(ctx, spec)
		if err != nil {
			t.Fatalf("create: %v", err)
		}

		// Omitted fields keep their value, credentials included.
		got, secret, err := s.UpdateWebhook(ctx, w.ID, models.WebhookPatch{Name: whPtr("Renamed"), RetryCount: whPtr(0)})
		if err != nil {
			t.Fatalf("rename: %v", err)
		}
		if secret != "" || got.Name != "Renamed" || got.RetryCount != 0 || got.Revision != 2 ||
			got.Description == nil || *got.Description != "posts to chat" || len(got.Headers.V) != 1 ||
			got.FailureEmail == nil || got.Filter.V == nil || *got.AuthUsername != "bot" {
			t.Errorf("after rename: %+v", got)
		}
		if auth, _, _ := s.WebhookSecrets(ctx, got); auth.Reveal() != "s3cret" {
			t.Error("password not kept")
		}

		// Auth of the same type keeps the credentials left out.
		got, _, err = s.UpdateWebhook(ctx, w.ID, models.WebhookPatch{Auth: &webhook.Auth{Type: webhook.AuthBasic, Username: "bot2"}})
		if err != nil {
			t.Fatalf("new username: %v", err)
		}
		if auth, _, _ := s.WebhookSecrets(ctx, got); auth.Reveal() != "s3cret" || *got.AuthUsername != "bot2" {
			t.Errorf("username %q, password kept %v", *got.AuthUsername, auth.Reveal() == "s3cret")
		}

		// Explicit nulls clear; empty lists clear.
		got, _, err = s.UpdateWebhook(ctx, w.ID, models.WebhookPatch{
			Description:              models.Nullable[string]{Set: true},
			FailureNotificationEmail: models.Nullable[string]{Set: true},
			Filter:                   models.Nullable[webhook.Filter]{Set: true},
			Headers:                  []webhook.KV{},
		})
		if err != nil {
			t.Fatalf("clear: %v", err)
		}
		if got.Description != nil || got.FailureEmail != nil || got.Filter.V != nil || len(got.Headers.V) != 0 || got.Revision != 4 {
			t.Errorf("after clear: description %v email %v filter %v headers %v revision %d", got.Description, got.FailureEmail, got.Filter.V, got.Headers.V, got.Revision)
		}

		// A new auth type needs its credentials; a refused patch changes nothing.
		before, _ := s.FindWebhookByID(ctx, w.ID)
		_, _, err = s.UpdateWebhook(ctx, w.ID, models.WebhookPatch{Name: whPtr("Other"), Auth: &webhook.Auth{Type: webhook.AuthBearer}})
		wantWebhookErr(t, err, models.CodeValidation, "auth.token")
		_, _, err = s.UpdateWebhook(ctx, w.ID, models.WebhookPatch{Method: whPtr(webhook.MethodGet)})
		wantWebhookErr(t, err, models.CodeValidation, "sendDataUsing")
		_, _, err = s.UpdateWebhook(ctx, w.ID, models.WebhookPatch{Headers: []webhook.KV{{Name: "Host", Value: "x"}}})
		wantWebhookErr(t, err, models.CodeValidation, "headers[0].name")
		after, _ := s.FindWebhookByID(ctx, w.ID)
		if after.Name != before.Name || after.Revision != before.Revision || after.AuthType != webhook.AuthBasic {
			t.Errorf("refused patches changed the webhook: %s rev %d %s", after.Name, after.Revision, after.AuthType)
		}

		// Switching to bearer with a token drops the basic credentials.
		got, _, err = s.UpdateWebhook(ctx, w.ID, models.WebhookPatch{Auth: &webhook.Auth{Type: webhook.AuthBearer, Token: "tok"}})
		if err != nil {
			t.Fatalf("to bearer: %v", err)
		}
		if auth, _, _ := s.WebhookSecrets(ctx, got); auth.Reveal() != "tok" || got.AuthUsername != nil {
			t.Errorf("bearer: token kept %v, username %v", auth.Reveal() == "tok", got.AuthUsername)
		}

		// A new signing scheme brings a secret; one of the same format keeps it.
		got, secret, err = s.UpdateWebhook(ctx, w.ID, models.WebhookPatch{Signing: &webhook.Signing{Scheme: "HMAC_SHA256"}})
		if err != nil || secret == "" || len(got.SigningSecret) == 0 {
			t.Fatalf("to HMAC_SHA256: secret %v, err %v", secret != "", err)
		}
		first := secret
		got, secret, err = s.UpdateWebhook(ctx, w.ID, models.WebhookPatch{Signing: &webhook.Signing{Scheme: "HMAC_SHA512", HeaderName: "X-Sig"}})
		if err != nil || secret != "" {
			t.Fatalf("to HMAC_SHA512: new secret %v, err %v", secret != "", err)
		}
		if _, signing, _ := s.WebhookSecrets(ctx, got); len(signing) != 1 || signing[0] != first {
			t.Error("HMAC_SHA512 does not keep the HMAC_SHA256 secret")
		}
		got, _, err = s.UpdateWebhook(ctx, w.ID, models.WebhookPatch{Signing: &webhook.Signing{Scheme: "NONE"}})
		if err != nil || len(got.SigningSecret) != 0 {
			t.Fatalf("to NONE: %d secret bytes, err %v", len(got.SigningSecret), err)
		}

		_, _, err = s.UpdateWebhook(ctx, "nope", models.WebhookPatch{Name: whPtr("x")})
		wantWebhookErr(t, err, models.CodeNotFound, "")
	})
}

func TestRotateWebhookSecret(t *testing.T) {
	t.Parallel()
	storetest.EachAt(t, time.Date(2026, 11, 22, 9, 5, 0, 0, time.UTC), func(t *testing.T, s *models.Store, clock *storetest.Clock) {
		f := setupWebhooks(t, s)
		ctx := context.Background()

		plain, _, err := s.CreateWebhook(ctx, validWebhookSpec(f.team.ID))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.RotateWebhookSecret(ctx, plain.ID)
		wantWebhookErr(t, err, models.CodeValidation, "id")
		_, _, err = s.RotateWebhookSecret(ctx, "nope")
		wantWebhookErr(t, err, models.CodeNotFound, "")

		spec := validWebhookSpec(f.team.ID)
		spec.Signing = webhook.Signing{Scheme: "HMAC_SHA512", HeaderName: "X-Herald-Signature"}
		w, old, err := s.CreateWebhook(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		got, fresh, err := s.RotateWebhookSecret(ctx, w.ID)
		if err != nil {
			t.Fatalf("rotate: %v", err)
		}
		if fresh == "" || fresh == old || got.Revision != 2 {
			t.Errorf("rotate: new secret differs %v, revision %d", fresh != old, got.Revision)
		}
		if got.PreviousSecretExpiresAt == nil || !got.PreviousSecretExpiresAt.Equal(clock.Now().Add(24*time.Hour)) {
			t.Errorf("previous expires at %v, want %v", got.PreviousSecretExpiresAt, clock.Now().Add(24*time.Hour))
		}
		stored, _ := s.FindWebhookByID(ctx, w.ID)
		_, signing, err := s.WebhookSecrets(ctx, stored)
		if err != nil || len(signing) != 2 || signing[0] != fresh || signing[1] != old {
			t.Errorf("signing secrets: %d, current first %v, err %v", len(signing), len(signing) > 0 && signing[0] == fresh, err)
		}
		clock.Add(24*time.Hour + time.Second)
		if _, signing, _ = s.WebhookSecrets(ctx, stored); len(signing) != 1 || signing[0] != fresh {
			t.Errorf("after 24 h: %d signing secrets, want the new one only", len(signing))
		}
	})
}

func TestDeactivateWebhook(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		f := setupWebhooks(t, s)
		ctx := context.Background()
		w, _, err := s.CreateWebhook(ctx, validWebhookSpec(f.team.ID))
		if err != nil {
			t.Fatal(err)
		}
		other, _, err := s.CreateWebhook(ctx, validWebhookSpec(f.team.ID))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []models.Delivery{
			{ID: "d-pending", WebhookID: w.ID, Status: models.DeliveryPending},
			{ID: "d-done", WebhookID: w.ID, Status: models.DeliverySucceeded},
			{ID: "d-other", WebhookID: other.ID, Status: models.DeliveryPending},
		} {
			storetest.Deliveries(t, s, w, 1, func(row *models.Delivery) {
				row.ID, row.WebhookID, row.Status, row.NextAttemptAt = d.ID, d.WebhookID, d.Status, nil
			})
		}
		if err := s.DB().Model(&models.Webhook{}).Where("id = ?", w.ID).Update("consecutive_failures", 4).Error; err != nil {
			t.Fatal(err)
		}

		got, err := s.DeactivateWebhook(ctx, w.ID, "deactivated by admin", "admin")
		if err != nil {
			t.Fatalf("deactivate: %v", err)
		}
		if got.Status != models.WebhookInactive || got.InactiveReason == nil || *got.InactiveReason != "deactivated by admin" {
			t.Errorf("after deactivate: %s %v", got.Status, got.InactiveReason)
		}
		want := map[string]string{"d-pending": models.DeliveryCancelled, "d-done": models.DeliverySucceeded, "d-other": models.DeliveryPending}
		for id, status := range want {
			var d models.Delivery
			if err := s.DB().First(&d, "id = ?", id).Error; err != nil {
				t.Fatal(err)
			}
			if d.Status != status {
				t.Errorf("delivery %s is %s, want %s", id, d.Status, status)
			}
		}

		got, err = s.ActivateWebhook(ctx, w.ID, "admin")
		if err != nil {
			t.Fatalf("activate: %v", err)
		}
		stored, _ := s.FindWebhookByID(ctx, w.ID)
		for _, x := range []*models.Webhook{got, stored} {
			if x.Status != models.WebhookActive || x.InactiveReason != nil || x.ConsecutiveFailures != 0 {
				t.Errorf("after activate: %s %v %d", x.Status, x.InactiveReason, x.ConsecutiveFailures)
			}
		}
		_, err = s.DeactivateWebhook(ctx, "nope", "x", "x")
		wantWebhookErr(t, err, models.CodeNotFound, "")
		_, err = s.ActivateWebhook(ctx, "nope", "x")
		wantWebhookErr(t, err, models.CodeNotFound, "")

		if err := s.DeleteWebhook(ctx, w.ID); err != nil {
			t.Fatalf("delete: %v", err)
		}
		_, err = s.FindWebhookByID(ctx, w.ID)
		wantWebhookErr(t, err, models.CodeNotFound, "")
		var n int64
		s.DB().Model(&models.Delivery{}).Where("webhook_id = ?", w.ID).Count(&n)
		if n != 0 {
			t.Errorf("%d deliveries of a deleted webhook remain", n)
		}
		wantWebhookErr(t, s.DeleteWebhook(ctx, w.ID), models.CodeNotFound, "")
	})
}

func TestWebhookSecretsSealedAtRest(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		f := setupWebhooks(t, s)
		ctx := context.Background()
		plaintexts := []string{"basic-Password-9f2", "apikey-Value-77c", "bearer-Token-e41"}
		auths := []webhook.Auth{
			{Type: webhook.AuthBasic, Username: "bot", Password: webhook.Secret(plaintexts[0])},
			{Type: webhook.AuthAPIKey, Key: "key", Value: webhook.Secret(plaintexts[1]), Placement: webhook.PlacementQuery},
			{Type: webhook.AuthBearer, Token: webhook.Secret(plaintexts[2])},
		}
		for i, a := range auths {
			spec := validWebhookSpec(f.team.ID)
			spec.Auth = a
			spec.Signing = webhook.Signing{Scheme: []string{"HMAC_SHA256", "STANDARD_WEBHOOKS", "HMAC_SHA512"}[i], HeaderName: []string{"", "", "X-Sig"}[i]}
			w, secret, err := s.CreateWebhook(ctx, spec)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			plaintexts = append(plaintexts, secret.Reveal(), strings.TrimPrefix(secret.Reveal(), "whsec_"))
			for range 2 { // the second rotation moves the first secret to older_signing_secrets
				_, rotated, err := s.RotateWebhookSecret(ctx, w.ID)
				if err != nil {
					t.Fatalf("rotate: %v", err)
				}
				plaintexts = append(plaintexts, rotated.Reveal(), strings.TrimPrefix(rotated.Reveal(), "whsec_"))
			}
		}
		rows, err := s.DB().Raw("SELECT * FROM webhooks").Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
			vals := make([]any, len(cols))
			dst := make([]any, len(cols))
			for i := range vals {
				dst[i] = &vals[i]
			}
			if err := rows.Scan(dst...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				text := fmt.Sprintf("%s", v)
				for _, p := range plaintexts {
					if strings.Contains(text, p) {
						t.Errorf("column %s holds a plaintext secret", cols[i])
					}
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Fatalf("%d rows, want 3", n)
		}
	})
}

func TestListWebhooks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		f := setupWebhooks(t, s)
		ctx := context.Background()
		other, err := s.CreateTeam(ctx, storetest.Name("other"))
		if err != nil {
			t.Fatal(err)
		}
		create := func(spec webhook.Spec) string {
			t.Helper()
			w, _, err := s.CreateWebhook(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			return w.ID
		}
		global := validWebhookSpec("")
		global.Scope, global.TeamID = webhook.ScopeGlobal, nil
		gID := create(global)
		tID := create(validWebhookSpec(f.team.ID))
		svc := validWebhookSpec("")
		svc.Scope, svc.TeamID, svc.ServiceID = webhook.ScopeService, nil, &f.service.ID
		sID := create(svc)
		oID := create(validWebhookSpec(other.ID))
		if _, err := s.DeactivateWebhook(ctx, oID, "x", "x"); err != nil {
			t.Fatal(err)
		}

		tests := map[string]struct {
			filter models.WebhookFilter
			want   []string
		}{
			"all":                {models.WebhookFilter{IncludeGlobal: true}, []string{gID, tID, sID, oID}},
			"without global":     {models.WebhookFilter{}, []string{tID, sID, oID}},
			"visible":            {models.WebhookFilter{VisibleTeams: []string{f.team.ID}}, []string{tID, sID}},
			"visible no teams":   {models.WebhookFilter{VisibleTeams: []string{}}, nil},
			"visible and global": {models.WebhookFilter{VisibleTeams: []string{other.ID}, IncludeGlobal: true}, []string{gID, oID}},
			"team":               {models.WebhookFilter{TeamID: &f.team.ID, IncludeGlobal: true}, []string{tID, sID}},
			"team scope":         {models.WebhookFilter{Scope: whPtr(webhook.ScopeTeam), IncludeGlobal: true}, []string{tID, oID}},
			"service":            {models.WebhookFilter{ServiceID: &f.service.ID, IncludeGlobal: true}, []string{sID}},
			"inactive":           {models.WebhookFilter{Status: whPtr(models.WebhookInactive), IncludeGlobal: true}, []string{oID}},
			"global scope":       {models.WebhookFilter{Scope: whPtr(webhook.ScopeGlobal), IncludeGlobal: true}, []string{gID}},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				ws, err := s.ListWebhooks(ctx, tc.filter)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, w := range ws {
					got = append(got, w.ID)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
	})
}

// TestPrivateTargetsBlocked saves and drafts webhooks on a store opened with the egress guard's
// CheckTargetHost, as a process without HERALD_ALLOW_PRIVATE_TARGETS opens it: a URL whose host
// is localhost or a refused address literal is refused on that URL, naming the setting; names
// are left to the connect-time guard, and URLs saved while private targets were allowed are
// kept through later updates.
func TestPrivateTargetsBlocked(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dbURL := storetest.URL(t, dialect)
			allowing := storetest.OpenURL(t, dbURL)
			s := storetest.OpenURL(t, dbURL, func(o *models.Options) { o.CheckTargetHost = egress.CheckTargetHost })
			f := setupWebhooks(t, s)

			for _, raw := range []string{"http://127.0.0.1:8080/x", "http://localhost/x", "https://LOCALHOST./x",
				"http://10.1.2.3/", "http://192.168.0.7/", "http://169.254.169.254/latest", "http://[::1]:9/",
				"http://[fe80::1%25eth0]/", "http://0x7f.1/", "http://0.0.0.0/"} {
				spec := validWebhookSpec(f.team.ID)
				spec.URLs = []string{raw}
				_, _, err := s.CreateWebhook(ctx, spec)
				wantWebhookErr(t, err, models.CodeValidation, "urls[0]")
				if !strings.Contains(err.Error(), "HERALD_ALLOW_PRIVATE_TARGETS") {
					t.Errorf("create %s: %q does not name HERALD_ALLOW_PRIVATE_TARGETS", raw, err)
				}
				spec.URLs = []string{"https://example.com/a", raw}
				_, _, err = s.DraftWebhook(ctx, spec)
				wantWebhookErr(t, err, models.CodeValidation, "urls[1]")
			}

			spec := validWebhookSpec(f.team.ID)
			spec.URLs = []string{"https://example.com/a", "http://intranet.example:8080/b", "http://8.8.8.8/"}
			if _, _, err := s.CreateWebhook(ctx, spec); err != nil {
				t.Fatalf("create with public targets and names: %v", err)
			}

			spec.URLs = []string{"http://10.0.0.1/saved"}
			saved, _, err := allowing.CreateWebhook(ctx, spec)
			if err != nil {
				t.Fatalf("create with private targets allowed: %v", err)
			}
			if _, _, err := s.UpdateWebhook(ctx, saved.ID, models.WebhookPatch{Name: whPtr("Renamed")}); err != nil {
				t.Fatalf("rename a webhook saved with a private URL: %v", err)
			}
			_, _, err = s.UpdateWebhook(ctx, saved.ID, models.WebhookPatch{URLs: []string{"http://10.0.0.1/saved", "http://10.0.0.2/new"}})
			wantWebhookErr(t, err, models.CodeValidation, "urls[1]")
		})
	}
}
