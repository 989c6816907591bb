package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"

	"github.com/herald-hq/herald/graph/model"
	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/models/webhook/render"
	"github.com/herald-hq/herald/worker"
)

// previewDeliveryID stands in for the delivery id in previews.
const previewDeliveryID = "00000000-0000-0000-0000-000000000000"

// renderPreview renders templates for an event against a real incident or the sample,
// sending nothing. With webhookId the webhook's saved templates and settings are the starting
// point; what the input gives replaces them (an editor previews unsaved changes). A template
// the send mode does not use (bodyTemplate with QUERY_PARAMS, queryParams with BODY) is not
// rendered and gets a warning. Templates over the limits of a saved webhook are refused with
// VALIDATION (webhook.CheckTemplateSizes).
func (r *Resolver) renderPreview(ctx context.Context, in model.RenderPreviewInput) (*model.RenderPreview, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	// Any reader may ask for a preview: templates over the save limits are refused before
	// they are parsed (whether or not the send mode uses them).
	values := make([]string, len(in.QueryParams))
	for i, q := range in.QueryParams {
		if q.Secret != nil && *q.Secret {
			return nil, models.Invalid(fmt.Sprintf("queryParams[%d].secret", i), "only headers can be secret")
		}
		values[i] = q.Value
	}
	if err := webhook.CheckTemplateSizes(in.BodyTemplate, values); err != nil {
		return nil, err
	}
	pin := render.PreviewInput{SendDataUsing: render.SendBody, ContentType: render.JSON}
	webhookID := render.SampleWebhookID
	if in.WebhookID != nil {
		w, err := r.readableWebhook(ctx, p, *in.WebhookID)
		if err != nil {
			return nil, err
		}
		webhookID = w.ID
		pin.SendDataUsing = render.SendMode(w.SendDataUsing)
		pin.ContentType = render.ContentType(w.ContentType)
		if w.BodyTemplate != nil {
			pin.BodyTemplate = *w.BodyTemplate
		}
		pin.QueryParams = renderKVs(w.QueryParams.V)
		pin.ExtraFields = renderKVs(w.ExtraFields.V)
	}
	// gqlgen fills in the schema's defaults (BODY, JSON), so only what the caller wrote
	// replaces the saved webhook's settings.
	if in.SendDataUsing != nil && (in.WebhookID == nil || inputGiven(ctx, "sendDataUsing")) {
		pin.SendDataUsing = render.SendMode(*in.SendDataUsing)
	}
	if in.ContentType != nil && (in.WebhookID == nil || inputGiven(ctx, "contentType")) {
		pin.ContentType = render.ContentType(*in.ContentType)
	}
	if in.BodyTemplate != nil {
		pin.BodyTemplate = *in.BodyTemplate
	}
	if in.QueryParams != nil {
		pin.QueryParams = renderKVs(webhookKVFromInput(in.QueryParams))
	}
	event := webhook.EventCreated
	if in.Event != nil {
		event = string(*in.Event)
	}
	var data *render.Data
	if in.IncidentID != nil {
		snap, err := r.Store.SnapshotIncident(ctx, *in.IncidentID, p.Name)
		if err != nil {
			return nil, err
		}
		if !canReadTeam(p, snap.TeamID) {
			return nil, models.Forbidden()
		}
		data = worker.DataFromSnapshot(event, previewDeliveryID, webhookID, &snap, r.Store.Now())
	} else {
		sample := render.Sample(webhook.EventWireName(event), r.Store.Now())
		sample.WebhookID = webhookID
		sample.Incident.URL = r.Store.IncidentURL(sample.Incident.ID)
		data = &sample
	}
	res := render.Preview(pin, data)
	// What the send mode does not use is not rendered; say so rather than leave it unnoticed
	// (saving the webhook would refuse it).
	switch {
	case pin.SendDataUsing == render.SendQueryParams && pin.BodyTemplate != "":
		res.Warnings = append(res.Warnings, "bodyTemplate is not used with sendDataUsing QUERY_PARAMS, which sends no body")
	case pin.SendDataUsing != render.SendQueryParams && len(pin.QueryParams) > 0:
		res.Warnings = append(res.Warnings, "queryParams are not used with sendDataUsing BODY: they are sent only with QUERY_PARAMS")
	}
	out := &model.RenderPreview{
		Body:      res.Body,
		Query:     res.Query,
		Errors:    make([]*model.TemplateError, len(res.Errors)),
		Warnings:  res.Warnings,
		Truncated: res.Truncated,
		ValidJSON: res.ValidJSON,
	}
	for i, e := range res.Errors {
		out.Errors[i] = &model.TemplateError{Message: e.Message, Line: e.Line, Column: e.Column}
	}
	return out, nil
}

// placeholders lists what templates may use for an event (all events when nil).
func placeholders(event *model.WebhookEvent) []*model.Placeholder {
	wire := ""
	if event != nil {
		wire = webhook.EventWireName(string(*event))
	}
	cat := render.Catalog(wire)
	out := make([]*model.Placeholder, len(cat))
	for i, ph := range cat {
		out[i] = &model.Placeholder{Name: ph.Name, Description: ph.Description, Example: ph.Example, Values: ph.Values}
	}
	return out
}

// inputGiven reports whether the caller wrote the field of the field's `input` argument, in the
// query or in a variable, with a value other than null.
func inputGiven(ctx context.Context, field string) bool {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || !graphql.HasOperationContext(ctx) {
		return false
	}
	in, _ := fc.Field.ArgumentMap(graphql.GetOperationContext(ctx).Variables)["input"].(map[string]any)
	return in[field] != nil
}

func renderKVs(kvs []webhook.KV) []render.KV {
	out := make([]render.KV, len(kvs))
	for i, kv := range kvs {
		out[i] = render.KV{Name: kv.Name, Value: kv.Value}
	}
	return out
}
