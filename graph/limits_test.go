package graph

import (
	"strings"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))

	deep := "id"
	for range 7 {
		deep = "services { team { " + deep + " } }"
	}
	_, errs := w.do(t, "admin", "{ teams { "+deep+" } }", nil)
	if webhookErrCode(t, errs) != models.CodeValidation || !strings.Contains(errs[0].Message, "levels deep") {
		t.Fatalf("a 16-level query: want VALIDATION, got %+v", errs)
	}

	// GraphiQL's schema query follows type wrappers 15 levels deep; introspection is exempt.
	typeRef := "kind name"
	for range 8 {
		typeRef = "kind name ofType { " + typeRef + " }"
	}
	data, errs := w.do(t, "admin", "{ __schema { types { name fields { type { "+typeRef+" } } } } }", nil)
	if len(errs) > 0 || !strings.Contains(string(data), `"DeliveryAttempt"`) {
		t.Fatalf("introspection refused: %v", errs)
	}
}
