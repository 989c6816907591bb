package graph

import (
	"github.com/herald-hq/herald/graph/ingest"
	"github.com/herald-hq/herald/graph/model"
	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/payload"
)

func (r *Resolver) integrationToModel(in *models.Integration) *model.Integration {
	m := &model.Integration{
		ID:         in.ID,
		Name:       in.Name,
		ServiceID:  in.ServiceID,
		ProcessURL: r.Store.BaseURL() + ingest.ProcessPath,
		RequestURL: r.Store.BaseURL() + ingest.RequestPath,
		CreatedAt:  in.CreatedAt,
	}
	f := in.APIFilter.V
	if f != (payload.APIFilter{}) {
		m.APIFilter = &model.APIFilter{
			TitleKey:        optional(f.TitleKey),
			DescriptionKey:  optional(f.DescriptionKey),
			UrgencyKey:      optional(f.UrgencyKey),
			MappingKey:      optional(f.MappingKey),
			ResolveWhen:     apiMatchToModel(f.ResolveWhen),
			AcknowledgeWhen: apiMatchToModel(f.AcknowledgeWhen),
		}
	}
	return m
}

func apiMatchToModel(m *payload.Match) *model.APIFilterMatch {
	if m == nil {
		return nil
	}
	return &model.APIFilterMatch{Key: m.Key, Value: m.Value}
}

func apiFilterFromInput(in *model.APIFilterInput) payload.APIFilter {
	if in == nil {
		return payload.APIFilter{}
	}
	f := payload.APIFilter{
		TitleKey:       valueOr(in.TitleKey, ""),
		DescriptionKey: valueOr(in.DescriptionKey, ""),
		UrgencyKey:     valueOr(in.UrgencyKey, ""),
		MappingKey:     valueOr(in.MappingKey, ""),
	}
	if in.ResolveWhen != nil {
		f.ResolveWhen = &payload.Match{Key: in.ResolveWhen.Key, Value: in.ResolveWhen.Value}
	}
	if in.AcknowledgeWhen != nil {
		f.AcknowledgeWhen = &payload.Match{Key: in.AcknowledgeWhen.Key, Value: in.AcknowledgeWhen.Value}
	}
	return f
}

// apiFilterPatchFromInput maps updateIntegration's apiFilter: nil (omitted) keeps the filter.
func apiFilterPatchFromInput(in *model.APIFilterInput) *payload.APIFilter {
	if in == nil {
		return nil
	}
	f := apiFilterFromInput(in)
	return &f
}

func requestToModel(rq *models.Request) *model.Request {
	return &model.Request{
		ID:          rq.ID,
		Title:       rq.Title,
		Description: rq.Description,
		ServiceID:   rq.ServiceID,
		AlertSource: rq.AlertSource,
		CreatedAt:   rq.CreatedAt,
	}
}
