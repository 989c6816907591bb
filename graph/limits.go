package graph

import (
	"context"
	"math"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/herald-hq/herald/graph/model"
	"github.com/herald-hq/herald/models"
)

// fieldCosts weighs each paginated field by the items it may return: a field costs 1 plus its
// selections once per item of a full page (first, else the store's default page; at most
// MaxPageSize, beyond which the store refuses). Every other field costs 1 plus its selections.
// Introspection (__schema) costs nothing, so GraphiQL's schema query always passes.
func fieldCosts() ComplexityRoot {
	var c ComplexityRoot
	c.Query.Deliveries = func(child int, _ *string, _ *model.DeliveryStatus, first *int, _ *string) int {
		return pageCost(child, first)
	}
	c.Query.Incidents = func(child int, _ *model.IncidentStatus, _ *string, first *int, _ *string) int {
		return pageCost(child, first)
	}
	c.Query.Requests = func(child int, _ *string, first *int, _ *string) int {
		return pageCost(child, first)
	}
	c.Webhook.Deliveries = func(child int, _ *model.DeliveryStatus, first *int, _ *string) int {
		return pageCost(child, first)
	}
	c.Incident.Deliveries = func(child int, _ *model.DeliveryStatus, first *int, _ *string) int {
		return pageCost(child, first)
	}
	// webhooks has no page size: weighed as webhookListWeight of them, so that a delivery page
	// under every webhook is not costed as one page.
	c.Query.Webhooks = func(child int, _ *model.WebhookScope, _ *string, _ *string, _ *model.WebhookStatus) int {
		n := webhookListWeight
		return pageCost(child, &n)
	}
	return c
}

// webhookListWeight is how many webhooks a webhooks query is costed as returning.
const webhookListWeight = 20

// pageCost is 1 plus child once per item of the page first asks for, saturating instead of
// overflowing. A page size the store refuses (below 0) costs a default page.
func pageCost(child int, first *int) int {
	n := models.DefaultPageSize
	if first != nil && *first > 0 {
		n = min(*first, models.MaxPageSize)
	}
	if child > (math.MaxInt-1)/n {
		return math.MaxInt
	}
	return 1 + child*n
}

// costLimit refuses operations whose cost (fieldCosts) is above max with LIMIT_EXCEEDED,
// before anything runs.
type costLimit struct {
	max int
	es  graphql.ExecutableSchema
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = &costLimit{}

// ExtensionName implements graphql.HandlerExtension.
func (*costLimit) ExtensionName() string { return "CostLimit" }

// Validate implements graphql.HandlerExtension.
func (c *costLimit) Validate(es graphql.ExecutableSchema) error {
	c.es = es
	return nil
}

// MutateOperationContext implements graphql.OperationContextMutator.
func (c *costLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if cost := complexity.Calculate(ctx, c.es, oc.Operation, oc.Variables); cost > c.max {
		err := gqlerror.Errorf("operation costs %d, more than the limit of %d: ask for smaller pages (first) or fewer fields, or split it", cost, c.max)
		err.Extensions = map[string]any{"code": models.CodeLimitExceeded}
		return err
	}
	return nil
}
