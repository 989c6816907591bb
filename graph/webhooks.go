package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/herald-hq/herald/graph/model"
	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/webhook"
)

// webhookToModel maps a stored webhook to the API's view of it: credentials appear only as
// hasSecret, signing secrets not at all.
func webhookToModel(w *models.Webhook) *model.Webhook {
	m := &model.Webhook{
		ID:                       w.ID,
		Name:                     w.Name,
		Description:              w.Description,
		Scope:                    model.WebhookScope(w.Scope),
		TeamID:                   w.TeamID,
		ServiceID:                w.ServiceID,
		Urls:                     w.URLs.V,
		Method:                   model.HTTPMethod(w.Method),
		Auth:                     &model.AuthInfo{Type: model.AuthType(w.AuthType), Username: w.AuthUsername, Key: w.AuthKey, HasSecret: len(w.AuthSecret) > 0},
		Headers:                  webhookKVToModel(w.Headers.V),
		Signing:                  &model.SigningInfo{Scheme: model.SigningScheme(w.SigningScheme), HeaderName: w.SigningHeader},
		SendDataUsing:            model.SendDataUsing(w.SendDataUsing),
		ContentType:              model.ContentType(w.ContentType),
		BodyTemplate:             w.BodyTemplate,
		QueryParams:              webhookKVToModel(w.QueryParams.V),
		ExtraFields:              webhookKVToModel(w.ExtraFields.V),
		RetryCount:               w.RetryCount,
		RetryIntervalMinutes:     w.RetryIntervalMinutes,
		TimeoutSeconds:           w.TimeoutSeconds,
		FailureNotificationEmail: w.FailureEmail,
		Filter:                   webhookFilterToModel(w.Filter.V),
		Status:                   model.WebhookStatus(w.Status),
		InactiveReason:           w.InactiveReason,
		ConsecutiveFailures:      w.ConsecutiveFailures,
		CreatedAt:                w.CreatedAt,
		UpdatedAt:                w.UpdatedAt,
	}
	if m.Urls == nil {
		m.Urls = []string{}
	}
	m.Events = make([]model.WebhookEvent, len(w.Events.V))
	for i, e := range w.Events.V {
		m.Events[i] = model.WebhookEvent(e)
	}
	if w.AuthPlacement != nil {
		p := model.APIKeyPlacement(*w.AuthPlacement)
		m.Auth.Placement = &p
	}
	return m
}

// webhookWithSecret pairs a webhook with the signing secret shown once ("" means none).
func webhookWithSecret(w *models.Webhook, secret webhook.Secret) *model.WebhookWithSecret {
	out := &model.WebhookWithSecret{Webhook: webhookToModel(w)}
	if secret != "" {
		s := secret.Reveal()
		out.SigningSecret = &s
	}
	return out
}

// updatedWebhookToModel maps an updated webhook with the signing secret a change of scheme
// generated, shown once ("" means none).
func updatedWebhookToModel(w *models.Webhook, secret webhook.Secret) *model.Webhook {
	out := webhookToModel(w)
	if secret != "" {
		revealed := secret.Reveal()
		out.NewSigningSecret = &revealed
	}
	return out
}

func webhookKVToModel(kvs []webhook.KV) []*model.KeyValue {
	out := make([]*model.KeyValue, len(kvs))
	for i, kv := range kvs {
		out[i] = &model.KeyValue{Name: kv.Name, Value: kv.Value, Secret: kv.Secret}
	}
	return out
}

func webhookFilterToModel(f *webhook.Filter) *model.Filter {
	if f == nil {
		return nil
	}
	m := &model.Filter{
		Join:       model.FilterJoin(f.Join),
		Conditions: make([]*model.FilterCondition, len(f.Conditions)),
		Groups:     make([]*model.Filter, 0, len(f.Groups)),
	}
	for i, c := range f.Conditions {
		m.Conditions[i] = &model.FilterCondition{Field: model.FilterField(c.Field), Operator: model.FilterOperator(c.Operator), Value: c.Value}
	}
	for _, g := range f.Groups {
		if g != nil {
			m.Groups = append(m.Groups, webhookFilterToModel(g))
		}
	}
	return m
}

// webhookSpecFromInput maps a webhook input to the store's specification; an explicit null
// for a defaulted field means its default.
func webhookSpecFromInput(in model.WebhookInput) webhook.Spec {
	return webhook.Spec{
		Name:                     in.Name,
		Description:              in.Description,
		Scope:                    string(in.Scope),
		TeamID:                   in.TeamID,
		ServiceID:                in.ServiceID,
		Events:                   webhookEventsFromInput(in.Events),
		URLs:                     in.Urls,
		Method:                   webhookEnum(in.Method),
		Auth:                     webhookAuthFromInput(in.Auth),
		Headers:                  webhookKVFromInput(in.Headers),
		Signing:                  webhookSigningFromInput(in.Signing),
		SendDataUsing:            webhookEnum(in.SendDataUsing),
		ContentType:              webhookEnum(in.ContentType),
		BodyTemplate:             in.BodyTemplate,
		QueryParams:              webhookKVFromInput(in.QueryParams),
		ExtraFields:              webhookKVFromInput(in.ExtraFields),
		RetryCount:               valueOr(in.RetryCount, webhook.DefaultRetryCount),
		RetryIntervalMinutes:     valueOr(in.RetryIntervalMinutes, webhook.DefaultRetryIntervalMinutes),
		TimeoutSeconds:           valueOr(in.TimeoutSeconds, webhook.DefaultTimeoutSeconds),
		FailureNotificationEmail: in.FailureNotificationEmail,
		Filter:                   webhookFilterFromInput(in.Filter),
	}
}

// webhookPatchFromInput maps a webhook patch: omitted fields stay nil (keep), explicit nulls
// of the clearable fields clear.
func webhookPatchFromInput(in model.WebhookPatch) models.WebhookPatch {
	p := models.WebhookPatch{
		Name:                     in.Name,
		Description:              webhookNullable(in.Description),
		Events:                   webhookEventsFromInput(in.Events),
		URLs:                     in.Urls,
		Headers:                  webhookKVFromInput(in.Headers),
		BodyTemplate:             webhookNullable(in.BodyTemplate),
		QueryParams:              webhookKVFromInput(in.QueryParams),
		ExtraFields:              webhookKVFromInput(in.ExtraFields),
		RetryCount:               in.RetryCount,
		RetryIntervalMinutes:     in.RetryIntervalMinutes,
		TimeoutSeconds:           in.TimeoutSeconds,
		FailureNotificationEmail: webhookNullable(in.FailureNotificationEmail),
	}
	if in.Method != nil {
		p.Method = new(string(*in.Method))
	}
	if in.SendDataUsing != nil {
		p.SendDataUsing = new(string(*in.SendDataUsing))
	}
	if in.ContentType != nil {
		p.ContentType = new(string(*in.ContentType))
	}
	if in.Auth != nil {
		p.Auth = new(webhookAuthFromInput(in.Auth))
	}
	if in.Signing != nil {
		p.Signing = new(webhookSigningFromInput(in.Signing))
	}
	if v, ok := in.Filter.ValueOK(); ok {
		p.Filter = models.Nullable[webhook.Filter]{Set: true, Value: webhookFilterFromInput(v)}
	}
	return p
}

func webhookNullable(o graphql.Omittable[*string]) models.Nullable[string] {
	v, ok := o.ValueOK()
	if !ok {
		return models.Nullable[string]{}
	}
	return models.Nullable[string]{Set: true, Value: v}
}

func webhookEnum[T ~string](v *T) string {
	if v == nil {
		return ""
	}
	return string(*v)
}

func webhookEventsFromInput(events []model.WebhookEvent) []string {
	if events == nil {
		return nil
	}
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = string(e)
	}
	return out
}

// webhookKVFromInput keeps nil (omitted) apart from empty (cleared).
func webhookKVFromInput(kvs []*model.KeyValueInput) []webhook.KV {
	if kvs == nil {
		return nil
	}
	out := make([]webhook.KV, len(kvs))
	for i, kv := range kvs {
		out[i] = webhook.KV{Name: kv.Name, Value: kv.Value, Secret: kv.Secret != nil && *kv.Secret}
	}
	return out
}

func webhookAuthFromInput(a *model.AuthInput) webhook.Auth {
	if a == nil {
		return webhook.Auth{}
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return webhook.Auth{
		Type:      string(a.Type),
		Username:  str(a.Username),
		Password:  webhook.Secret(str(a.Password)),
		Key:       str(a.Key),
		Value:     webhook.Secret(str(a.Value)),
		Placement: webhookEnum(a.Placement),
		Token:     webhook.Secret(str(a.Token)),
	}
}

func webhookSigningFromInput(s *model.SigningInput) webhook.Signing {
	if s == nil {
		return webhook.Signing{}
	}
	spec := webhook.Signing{Scheme: string(s.Scheme)}
	if s.HeaderName != nil {
		spec.HeaderName = *s.HeaderName
	}
	return spec
}

func webhookFilterFromInput(f *model.FilterInput) *webhook.Filter {
	if f == nil {
		return nil
	}
	out := &webhook.Filter{Join: string(f.Join)}
	for _, c := range f.Conditions {
		out.Conditions = append(out.Conditions, webhook.Condition{Field: string(c.Field), Operator: string(c.Operator), Value: c.Value})
	}
	for _, g := range f.Groups {
		out.Groups = append(out.Groups, webhookFilterFromInput(g))
	}
	return out
}

// testWebhook sends a test delivery at once and returns its attempt: of the saved webhook id,
// which the caller must manage, or of the unsaved input, which the caller must be allowed to
// create, for event (INCIDENT_CREATED when nil) to url (the webhook's first URL when nil).
// VALIDATION for both id and input or neither, and for an empty url; INTERNAL when this process
// sends no webhooks.
func (r *Resolver) testWebhook(ctx context.Context, id *string, input *model.WebhookInput, event *model.WebhookEvent, url *string) (*model.DeliveryAttempt, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if r.Sender == nil {
		return nil, models.Errorf(models.CodeInternal, "this process sends no webhooks")
	}
	ev := webhook.EventCreated
	if event != nil {
		ev = string(*event)
	}
	var (
		hook  *models.Webhook
		draft *webhook.Sendable
	)
	switch {
	case id != nil && input != nil:
		return nil, models.Invalid("id", "give either id or input, not both")
	case id != nil:
		if hook, err = r.managedWebhook(ctx, p, *id); err != nil {
			return nil, err
		}
	case input != nil:
		spec := webhookSpecFromInput(*input)
		if err := r.authorizeWebhookCreate(ctx, p, &spec); err != nil {
			return nil, err
		}
		if hook, draft, err = r.Store.DraftWebhook(ctx, spec); err != nil {
			return nil, err
		}
	default:
		return nil, models.Invalid("id", "give the id of a saved webhook or an input")
	}
	if url != nil && *url == "" {
		return nil, models.Invalid("url", "url is empty: give one of the webhook's URLs, or omit url to test the first")
	}
	a, err := r.Sender.TestURL(ctx, hook, draft, ev, valueOr(url, ""))
	if err != nil {
		return nil, err
	}
	return attemptToModel(a), nil
}
