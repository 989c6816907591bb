package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

var screenshots = flag.Bool("screenshots", false, "write the pages' screenshots to ../docs (graphiql.png, dashboard*.png, incident.png)")

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

const adminToken = "hrd_browser_test_admin_token"

// TestPagesInChromium drives GraphiQL and the dashboard in a real headless Chromium against
// the real Herald binary, with deliveries going to a local receiver.
func TestPagesInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("skipping the browser tests: %s not found (apt-get install chromium; .ci/run does it)", chromiumPath)
	}
	recv := newReceiver(t)
	h := startHerald(t)
	me := h.gql(t, `{ me { name } }`, nil)["me"].(map[string]any)["name"].(string)
	team := h.gql(t, `mutation { createTeam(name: "Payments") { id } }`, nil)["createTeam"].(map[string]any)["id"].(string)
	svc := h.gql(t, `mutation($t: ID!) { createService(teamId: $t, name: "checkout") { id } }`, map[string]any{"t": team})["createService"].(map[string]any)["id"].(string)
	hook := h.gql(t, `mutation($s: ID!, $u: String!) { createWebhook(input: { name: "chat", scope: SERVICE, serviceId: $s,
		events: [INCIDENT_CREATED], urls: [$u], signing: { scheme: STANDARD_WEBHOOKS } }) { webhook { id } } }`,
		map[string]any{"s": svc, "u": recv.URL + "/hook"})["createWebhook"].(map[string]any)["webhook"].(map[string]any)["id"].(string)

	ctx, b := newBrowser(t)

	t.Run("graphiql runs a query", func(t *testing.T) {
		run(t, ctx,
			chromedp.Navigate(h.base+"/"),
			chromedp.WaitVisible(chromedp.CSS(".graphiql-execute-button")),
			chromedp.SendKeys(chromedp.ID("token"), adminToken),
			chromedp.Click(chromedp.CSS("#token-form button")),
			chromedp.WaitVisible(chromedp.CSS(".graphiql-execute-button")),
			chromedp.Click(chromedp.CSS(".graphiql-execute-button")),
		)
		want := fmt.Sprintf("%q: %q", "name", me)
		waitText(t, ctx, ".result-window", want)
		// The schema arrived too (the docs explorer needs the introspection answer).
		waitJS(t, ctx, `!document.querySelector('.graphiql-doc-explorer-error')`)
		if *screenshots {
			shoot(t, ctx, "graphiql.png")
		}
	})

	t.Run("graphiql subscribes over graphql-ws", func(t *testing.T) {
		q := url.QueryEscape(`subscription { deliveryLog { outcome webhook { name } } }`)
		run(t, ctx,
			chromedp.Navigate(h.base+"/?query="+q),
			chromedp.WaitVisible(chromedp.CSS(".graphiql-execute-button")),
			chromedp.Click(chromedp.CSS(".graphiql-execute-button")),
		)
		// Subscribed once the button turns into a stop button; then make an attempt.
		waitJS(t, ctx, `!!document.querySelector('.graphiql-execute-button[aria-label*="Stop"]')`)
		poll(t, "an attempt reaches the GraphiQL subscription", func() bool {
			h.gql(t, `mutation($id: ID!) { testWebhook(id: $id) { id } }`, map[string]any{"id": hook})
			txt, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".result-window")))
			return strings.Contains(txt, `"outcome": "SUCCEEDED"`)
		})
		run(t, ctx, chromedp.Click(chromedp.CSS(".graphiql-execute-button"))) // stop
	})

	t.Run("dashboard shows a live attempt and redelivers it", func(t *testing.T) {
		run(t, ctx,
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Evaluate[any](`localStorage.clear()`)(ctx, tg)
				return err
			}),
			chromedp.Navigate(h.base+"/dashboard#token="+adminToken),
			chromedp.WaitVisible(chromedp.CSS(`#hooks tr[data-webhook="`+hook+`"]`)),
		)
		href := get(t, ctx, chromedp.Location())
		if strings.Contains(href, "token") {
			t.Errorf("the token stays in the address bar: %s", href)
		}
		waitText(t, ctx, "#live", "live")

		before := recv.count.Load()
		inc := h.gql(t, `mutation($s: ID!) { createIncident(input: { serviceId: $s, title: "Checkout is down" }) { id } }`,
			map[string]any{"s": svc})["createIncident"].(map[string]any)["id"].(string)
		row := `#log tbody tr[data-attempt]`
		waitText(t, ctx, "#log tbody", inc+" · Checkout is down")
		if recv.count.Load() <= before {
			t.Fatalf("the receiver got nothing, yet the log shows an attempt")
		}
		cells := get(t, ctx, chromedp.Text(chromedp.CSS(row)))
		for _, want := range []string{"chat", "created", "succeeded", "200", "ms"} {
			if !strings.Contains(cells, want) {
				t.Errorf("log row %q lacks %q", cells, want)
			}
		}

		// Details: the request as sent and the receiver's answer.
		run(t, ctx, chromedp.Click(chromedp.CSS(row)), chromedp.WaitVisible(chromedp.ID("details")))
		waitText(t, ctx, "#d-req-line", "POST "+recv.URL+"/hook")
		waitText(t, ctx, "#d-res-line", "HTTP 200")
		waitText(t, ctx, "#d-req-b", "Checkout is down")
		waitText(t, ctx, "#d-res-h", "X-Receiver")
		if *screenshots {
			shoot(t, ctx, "dashboard-details.png")
		}

		// Redeliver from the details: the receiver gets the delivery again.
		got := recv.count.Load()
		run(t, ctx, chromedp.Click(chromedp.ID("d-redeliver")))
		poll(t, "the receiver gets the redelivery", func() bool { return recv.count.Load() > got })
		waitJS(t, ctx, `document.querySelectorAll('#log tbody tr[data-attempt]').length >= 2`)
		run(t, ctx, chromedp.Click(chromedp.ID("d-close")), chromedp.WaitNotVisible(chromedp.ID("details")))
	})

	t.Run("dashboard switches a webhook off and on", func(t *testing.T) {
		sw := `#hooks tr[data-webhook="` + hook + `"] button[role="switch"]`
		run(t, ctx, chromedp.Click(chromedp.CSS(sw)))
		waitJS(t, ctx, `document.querySelector('`+sw+`').getAttribute('aria-checked') === 'false'`)
		if st := h.gql(t, `query($id: ID!) { webhook(id: $id) { status } }`, map[string]any{"id": hook})["webhook"].(map[string]any)["status"]; st != "INACTIVE" {
			t.Errorf("after Deactivate the webhook is %v", st)
		}
		run(t, ctx, chromedp.Click(chromedp.CSS(sw)))
		waitJS(t, ctx, `document.querySelector('`+sw+`').getAttribute('aria-checked') === 'true'`)
	})

	t.Run("dashboard previews a template and lists placeholders", func(t *testing.T) {
		get(t, ctx, chromedp.Evaluate[any](`document.getElementById('t-body').value = ''`))
		run(t, ctx,
			chromedp.SendKeys(chromedp.ID("t-body"), `{"t": "{{incident.ti`),
		)
		waitJS(t, ctx, `!document.getElementById('t-places').hidden`)
		waitText(t, ctx, "#t-places", "incident.title")
		// Enter takes the selected one. Sent as one keyDown with its text, as a keyboard does
		// (chromedp's SendKeys sends the char separately, which preventDefault cannot stop).
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeKeyDown, input.DispatchKeyEventTypeKeyUp} {
			p := input.DispatchKeyEventParams{Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
			if typ == input.DispatchKeyEventTypeKeyDown {
				p.Text = "\r"
			}
			if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, p); err != nil {
				t.Fatal(err)
			}
		}
		v := get(t, ctx, chromedp.Value(chromedp.ID("t-body")))
		if !strings.HasPrefix(v, `{"t": "{{incident.title}}`) {
			t.Errorf("after choosing a placeholder the template is %q", v)
		}
		run(t, ctx, chromedp.SendKeys(chromedp.ID("t-body"), `"}`))
		waitText(t, ctx, "#t-state", "valid JSON")
		if *screenshots {
			get(t, ctx, chromedp.Evaluate[any](`document.getElementById('d-close').click()`))
			shoot(t, ctx, "dashboard.png")
		}
	})

	t.Run("dashboard filters the live log by webhook through the subscription", func(t *testing.T) {
		svc2 := h.gql(t, `mutation($t: ID!) { createService(teamId: $t, name: "billing") { id } }`, map[string]any{"t": team})["createService"].(map[string]any)["id"].(string)
		pager := h.gql(t, `mutation($s: ID!, $u: String!) { createWebhook(input: { name: "pager", scope: SERVICE, serviceId: $s,
			events: [INCIDENT_CREATED], urls: [$u] }) { webhook { id } } }`,
			map[string]any{"s": svc2, "u": recv.URL + "/pager"})["createWebhook"].(map[string]any)["webhook"].(map[string]any)["id"].(string)
		mark := len(b.sent())
		run(t, ctx,
			chromedp.Navigate(h.base+"/dashboard"),
			chromedp.WaitVisible(chromedp.CSS(`#hooks tr[data-webhook="`+pager+`"]`)),
		)
		waitText(t, ctx, "#live", "live")
		allSub := lastSubscribe(t, b, mark, "")

		// Following chat: the page ends its subscription and subscribes again with chat's id.
		mark = len(b.sent())
		pick(t, ctx, hook)
		chatSub := lastSubscribe(t, b, mark, hook)
		waitComplete(t, b, allSub)
		waitText(t, ctx, "#log tbody", "Checkout is down") // chat's history, reloaded for it
		liveTest(t, ctx, h, hook)

		// pager's attempt is recorded (and announced) before chat's, so a subscription that
		// still got every webhook's attempts would have brought it before chat's.
		incB := incident(t, h, svc2, "Billing is down")
		poll(t, "pager's attempt is recorded", func() bool {
			edges := h.gql(t, `query($w: ID) { deliveries(webhookId: $w) { edges { node { status } } } }`,
				map[string]any{"w": pager})["deliveries"].(map[string]any)["edges"].([]any)
			return len(edges) == 1 && edges[0].(map[string]any)["node"].(map[string]any)["status"] == "SUCCEEDED"
		})
		incA := incident(t, h, svc, "Checkout is slow")
		waitText(t, ctx, "#log tbody", incA+" · Checkout is slow")
		if txt := get(t, ctx, chromedp.Evaluate[string](`document.querySelector('#log tbody').innerText`)); strings.Contains(txt, incB) || strings.Contains(txt, "pager") {
			t.Errorf("following chat, the log shows pager's attempt:\n%s", txt)
		}
		// What the page holds, not only what it shows: "N of N attempts".
		if n := get(t, ctx, chromedp.Evaluate[string](`document.getElementById('log-count').textContent`)); !regexp.MustCompile(`^(\d+) of (\d+) attempts$`).MatchString(n) ||
			strings.Fields(n)[0] != strings.Fields(n)[2] {
			t.Errorf("following chat, the page holds attempts it does not show: %q", n)
		}

		// All webhooks again: a subscription without arguments, and the history of both.
		mark = len(b.sent())
		pick(t, ctx, "")
		lastSubscribe(t, b, mark, "")
		waitComplete(t, b, chatSub)
		waitText(t, ctx, "#log tbody", incB+" · Billing is down")
		waitText(t, ctx, "#log tbody", incA+" · Checkout is slow")
		liveTest(t, ctx, h, pager)
	})

	t.Run("dashboard tests each URL of a webhook", func(t *testing.T) {
		second := newReceiver(t)
		multi := h.gql(t, `mutation($s: ID!, $a: String!, $b: String!) { createWebhook(input: { name: "fan-out", scope: SERVICE,
			serviceId: $s, events: [INCIDENT_CREATED], urls: [$a, $b] }) { webhook { id } } }`,
			map[string]any{"s": svc, "a": recv.URL + "/first", "b": second.URL + "/second"})["createWebhook"].(map[string]any)["webhook"].(map[string]any)["id"].(string)
		defer h.gql(t, `mutation($id: ID!) { deleteWebhook(id: $id) }`, map[string]any{"id": multi})
		run(t, ctx,
			chromedp.Navigate("about:blank"), // the dashboard may be open: a new fragment alone would not load it
			chromedp.Navigate(h.base+"/dashboard#token="+adminToken),
			chromedp.WaitVisible(chromedp.CSS(`#hooks tr[data-webhook="`+multi+`"] button.test`)),
		)
		labels := get(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#hooks tr[data-webhook="`+multi+`"] button.test'), b => b.textContent + " " + b.title)`))
		if want := []string{"Test 1 " + recv.URL + "/first", "Test 2 " + second.URL + "/second"}; !slices.Equal(labels, want) {
			t.Fatalf("test buttons %q, want %q", labels, want)
		}
		first, before := recv.count.Load(), second.count.Load()
		run(t, ctx, chromedp.Click(chromedp.CSS(`#hooks tr[data-webhook="`+multi+`"] button.test:nth-of-type(2)`)))
		waitText(t, ctx, "#hooks-status", "Test to fan-out (URL 2): succeeded")
		if second.count.Load() != before+1 || recv.count.Load() != first {
			t.Errorf("Test 2 reached the second URL %d times and the first %d times, want 1 and 0", second.count.Load()-before, recv.count.Load()-first)
		}
	})

	t.Run("a link with another token does not replace the signed-in one", func(t *testing.T) {
		user := h.gql(t, `mutation { createUser(input: { name: "Mallory", role: MEMBER }) { id } }`, nil)["createUser"].(map[string]any)["id"].(string)
		other := h.gql(t, `mutation($u: ID!) { createApiToken(userId: $u, name: "link") }`, map[string]any{"u": user})["createApiToken"].(string)
		run(t, ctx,
			chromedp.Navigate("about:blank"),
			chromedp.Navigate(h.base+"/dashboard#token="+adminToken),
			chromedp.WaitVisible(chromedp.ID("session")),
			chromedp.Navigate("about:blank"),
			chromedp.Navigate(h.base+"/dashboard#token="+other),
			chromedp.WaitVisible(chromedp.ID("session")),
		)
		waitText(t, ctx, "#notice", "another API token, which was not used")
		who := get(t, ctx, chromedp.Evaluate[string](`document.getElementById('who').textContent`))
		if !strings.HasPrefix(who, me+" ") {
			t.Errorf("signed in as %q after the link, want still %s", who, me)
		}
		if got := get(t, ctx, chromedp.Evaluate[string](`localStorage.getItem('herald.token') + ' ' + location.hash`)); got != adminToken+" " {
			t.Errorf("saved token and address after the link: %q, want the admin's and no fragment", got)
		}

		// A saved token that no longer works: the link's token waits in the field for a click.
		get(t, ctx, chromedp.Evaluate[any](`localStorage.setItem('herald.token', 'hrd_revoked_or_wrong_token')`))
		run(t, ctx,
			chromedp.Navigate("about:blank"),
			chromedp.Navigate(h.base+"/dashboard#token="+other),
			chromedp.WaitVisible(chromedp.ID("token")),
		)
		waitText(t, ctx, "#notice", "The saved token was refused")
		run(t, ctx, chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)), chromedp.WaitVisible(chromedp.ID("session")))
		waitText(t, ctx, "#who", "Mallory")
		get(t, ctx, chromedp.Evaluate[any](`localStorage.setItem('herald.token', '`+adminToken+`')`)) // for the subtests after this one
	})

	t.Run("dashboard works from the keyboard alone", func(t *testing.T) {
		run(t, ctx,
			chromedp.Navigate(h.base+"/dashboard"),
			chromedp.WaitVisible(chromedp.CSS(`#hooks tr[data-webhook="`+hook+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#log tbody tr[data-attempt] + tr[data-attempt]`)),
		)
		waitText(t, ctx, "#live", "live")
		sw := `#hooks tr[data-webhook="` + hook + `"] button[role="switch"]`
		test := `#hooks tr[data-webhook="` + hook + `"] button.test`
		first := get(t, ctx, chromedp.Evaluate[string](`document.querySelector('#log tbody tr').dataset.attempt`))
		row := `#log tbody tr[data-attempt="` + first + `"] button.open`

		// Tab from the top of the page: the session, the webhooks, the filters, then the log.
		seen := tabTo(t, ctx, row, false)
		want := []string{"logout", "switch:" + hook, "test:" + hook, "f-webhook", "f-outcome", "open:" + first}
		if !subsequence(seen, want) {
			t.Errorf("Tab visits %v; want this order: %v", seen, want)
		}
		if !get(t, ctx, chromedp.Evaluate[bool](`document.activeElement.matches(':focus-visible') && getComputedStyle(document.activeElement).outlineStyle === 'solid'`)) {
			t.Error("the focused log row shows no focus outline")
		}

		// Enter opens the details. A live attempt re-renders the log behind them; Escape closes
		// them and gives focus back to the row, though it is a new element by then.
		run(t, ctx, chromedp.KeyEvent(kb.Enter))
		waitJS(t, ctx, `document.getElementById('details').open && document.activeElement.id === 'd-close'`)
		get(t, ctx, chromedp.Evaluate[any](`document.querySelector('`+row+`').dataset.old = 'yes'`))
		liveTest(t, ctx, h, hook)
		run(t, ctx, chromedp.KeyEvent(kb.Escape))
		waitJS(t, ctx, `!document.getElementById('details').open && document.activeElement === document.querySelector('`+row+`')`)
		if get(t, ctx, chromedp.Evaluate[bool](`document.activeElement.dataset.old === 'yes'`)) {
			t.Error("the log was not re-rendered while the details were open: the test proves nothing")
		}

		// The arrow keys move between rows.
		next := `#log tbody tr[data-attempt="` + first + `"] + tr button.open`
		run(t, ctx, chromedp.KeyEvent(kb.ArrowDown))
		waitJS(t, ctx, `document.activeElement === document.querySelector('`+next+`')`)
		run(t, ctx, chromedp.KeyEvent(kb.ArrowUp))
		waitJS(t, ctx, `document.activeElement === document.querySelector('`+row+`')`)

		// A live attempt re-renders the log; focus stays on the same row.
		id := h.gql(t, `mutation($id: ID!) { testWebhook(id: $id) { id } }`, map[string]any{"id": hook})["testWebhook"].(map[string]any)["id"].(string)
		run(t, ctx, chromedp.WaitVisible(chromedp.CSS(`#log tbody tr[data-attempt="`+id+`"]`)))
		if !get(t, ctx, chromedp.Evaluate[bool](`document.activeElement === document.querySelector('`+row+`')`)) {
			t.Errorf("after a live attempt the focus is on %s, not on the row", get(t, ctx, chromedp.Evaluate[string](`document.activeElement.outerHTML.slice(0, 120)`)))
		}

		// Back to chat's Active switch: Space turns it off, and on again.
		tabTo(t, ctx, sw, true)
		for _, status := range []string{"INACTIVE", "ACTIVE"} {
			run(t, ctx, chromedp.KeyEvent(" "))
			poll(t, "the webhook becomes "+status, func() bool {
				return h.gql(t, `query($id: ID!) { webhook(id: $id) { status } }`, map[string]any{"id": hook})["webhook"].(map[string]any)["status"] == status
			})
			waitJS(t, ctx, fmt.Sprintf(`document.activeElement === document.querySelector('%s') && document.activeElement.getAttribute('aria-checked') === '%t'`, sw, status == "ACTIVE"))
		}

		// Enter on Test sends a test; focus stays on the button.
		tabTo(t, ctx, test, false)
		before := recv.count.Load()
		run(t, ctx, chromedp.KeyEvent(kb.Enter))
		waitText(t, ctx, "#hooks-status", "Test to chat: succeeded")
		if recv.count.Load() <= before {
			t.Error("Enter on Test sent nothing")
		}
		waitJS(t, ctx, `document.activeElement === document.querySelector('`+test+`') && !document.activeElement.hasAttribute('aria-disabled')`)
	})

	t.Run("incident page shows the incident and its deliveries", func(t *testing.T) {
		mark := b.mark()
		inc := h.gql(t, `mutation($s: ID!) { createIncident(input: { serviceId: $s, title: "Payments time out", urgency: LOW,
			description: "Card <b>payments</b> fail\nsince 10:02", mappedWith: "pay-42" }) { id } }`,
			map[string]any{"s": svc})["createIncident"].(map[string]any)["id"].(string)
		delivered(t, h, hook, inc)

		// From the dashboard's log: the incident column links to the page.
		link := `#log a[href="/incidents/` + inc + `"]`
		run(t, ctx,
			chromedp.Navigate(h.base+"/dashboard#token="+adminToken),
			chromedp.WaitVisible(chromedp.CSS(link)),
			chromedp.Click(chromedp.CSS(link)),
		)
		poll(t, "the log's incident link leads to /incidents/"+inc, func() bool {
			href, err := chromedp.Run(ctx, chromedp.Location())
			return err == nil && href == h.base+"/incidents/"+inc
		})
		run(t, ctx, chromedp.WaitVisible(chromedp.ID("incident")))
		waitText(t, ctx, "#inc-title", "Payments time out")
		waitText(t, ctx, "#inc-id", inc)
		waitText(t, ctx, "#inc-status", "triggered")
		for sel, want := range map[string]string{"#inc-urgency": "low", "#inc-service": "checkout", "#inc-team": "Payments",
			"#inc-assignee": "unassigned", "#inc-mapped": "pay-42", "#inc-created": time.Now().Format("2006")} {
			waitText(t, ctx, sel, want)
		}
		// The description is text: its markup shows as typed, and makes no element.
		if d := get(t, ctx, chromedp.Evaluate[string](`document.getElementById('inc-description').textContent`)); d != "Card <b>payments</b> fail\nsince 10:02" {
			t.Errorf("the description reads %q", d)
		}
		if get(t, ctx, chromedp.Evaluate[bool](`!!document.querySelector('#inc-description b')`)) {
			t.Error("the description was parsed as HTML")
		}

		// Its one delivery: event, webhook, status, attempts and the last outcome.
		row := `#deliveries tbody tr[data-delivery]`
		waitText(t, ctx, row, "succeeded")
		cells := get(t, ctx, chromedp.Text(chromedp.CSS(row)))
		for _, want := range []string{"created", "chat", "succeeded", "HTTP 200"} {
			if !strings.Contains(cells, want) {
				t.Errorf("delivery row %q lacks %q", cells, want)
			}
		}
		if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#deliveries tbody tr[data-delivery]').length`)); n != 1 {
			t.Errorf("the page lists %d deliveries, want 1 (only this incident's)", n)
		}
		waitText(t, ctx, row+" .attempts", "1")
		if !get(t, ctx, chromedp.Evaluate[bool](`!!document.querySelector('header a[href="/dashboard"]')`)) {
			t.Error("no link back to the dashboard")
		}

		// The attempt's details, as on the dashboard, and Redeliver: the new attempt arrives live.
		run(t, ctx, chromedp.Click(chromedp.CSS(row+" button.open")), chromedp.WaitVisible(chromedp.ID("details")))
		waitText(t, ctx, "#d-req-line", "POST "+recv.URL+"/hook")
		waitText(t, ctx, "#d-res-line", "HTTP 200")
		waitText(t, ctx, "#d-req-b", "Payments time out")
		got := recv.count.Load()
		run(t, ctx, chromedp.Click(chromedp.ID("d-redeliver")))
		poll(t, "the receiver gets the redelivery", func() bool { return recv.count.Load() > got })
		run(t, ctx, chromedp.Click(chromedp.ID("d-close")), chromedp.WaitNotVisible(chromedp.ID("details")))
		waitText(t, ctx, row+" .attempts", "2")

		// A later event of the incident: its new delivery and the new status arrive live.
		h.gql(t, `mutation($id: ID!, $events: [WebhookEvent!]) { updateWebhook(id: $id, input: { events: $events }) { id } }`,
			map[string]any{"id": hook, "events": []string{"INCIDENT_CREATED", "INCIDENT_ACKNOWLEDGED"}})
		h.gql(t, `mutation($id: ID!) { acknowledgeIncident(id: $id) { id } }`, map[string]any{"id": inc})
		waitText(t, ctx, "#deliveries tbody", "acknowledged")
		waitText(t, ctx, "#inc-status", "acknowledged")
		waitJS(t, ctx, `document.querySelectorAll('#deliveries tbody tr[data-delivery]').length === 2`)
		if *screenshots {
			shoot(t, ctx, "incident.png")
		}
		b.checkSince(t, mark, "/static/incident.js")
	})

	t.Run("incident page shows markup in a title as text", func(t *testing.T) {
		mark := b.mark()
		title := `<img src=x onerror=alert(1)> Checkout 500s`
		inc := incident(t, h, svc, title)
		delivered(t, h, hook, inc)
		run(t, ctx, chromedp.Navigate(h.base+"/incidents/"+inc+"#token="+adminToken))
		waitText(t, ctx, "#deliveries tbody", "succeeded")
		if got := get(t, ctx, chromedp.Evaluate[string](`document.getElementById('inc-title').textContent`)); got != title {
			t.Errorf("the title reads %q, want %q", got, title)
		}
		if n := get(t, ctx, chromedp.Evaluate[int](`document.images.length`)); n != 0 {
			t.Errorf("the page holds %d images: the title was parsed as HTML", n)
		}
		if dt := get(t, ctx, chromedp.Evaluate[string](`document.title`)); !strings.Contains(dt, title) {
			t.Errorf("the document title %q lacks the incident's", dt)
		}
		b.checkSince(t, mark, "/static/incident.js")
	})

	t.Run("incident page names an unknown incident and a forbidden one", func(t *testing.T) {
		mark := b.mark()
		run(t, ctx, chromedp.Navigate(h.base+"/incidents/INC-99999"))
		waitText(t, ctx, "#inc-error", "INC-99999 was not found")
		if get(t, ctx, chromedp.Evaluate[bool](`document.getElementById('incident').hidden && document.getElementById('deliveries-panel').hidden`)) == false {
			t.Error("an unknown incident leaves the incident panels shown")
		}

		// A member of no team, signing in on the page itself.
		user := h.gql(t, `mutation { createUser(input: { name: "Outsider", role: MEMBER }) { id } }`, nil)["createUser"].(map[string]any)["id"].(string)
		outsider := h.gql(t, `mutation($u: ID!) { createApiToken(userId: $u, name: "browser") }`, map[string]any{"u": user})["createApiToken"].(string)
		inc := incident(t, h, svc, "Refunds stuck")
		run(t, ctx,
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Evaluate[any](`localStorage.clear()`)(ctx, tg)
				return err
			}),
			chromedp.Navigate(h.base+"/incidents/"+inc),
			chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("token"), outsider),
			chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
		)
		waitText(t, ctx, "#who", "Outsider")
		waitText(t, ctx, "#inc-error", "may not see "+inc)

		// Signing out and in as the admin shows the incident without leaving the page.
		run(t, ctx,
			chromedp.Click(chromedp.ID("logout")),
			chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("token"), adminToken),
			chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
		)
		waitText(t, ctx, "#inc-title", "Refunds stuck")
		if get(t, ctx, chromedp.Evaluate[bool](`document.getElementById('inc-error').hidden`)) == false {
			t.Error("the refusal stays shown after signing in as the admin")
		}
		b.checkSince(t, mark, "/static/incident.js")
	})

	t.Run("attempt details say when the body was cut at the limit", func(t *testing.T) {
		// The default envelope cuts a description longer than the 20,000-character body limit.
		inc := h.gql(t, `mutation($s: ID!, $d: String!) { createIncident(input: { serviceId: $s, title: "Long story", description: $d }) { id } }`,
			map[string]any{"s": svc, "d": strings.Repeat("all work and no play ", 1500)})["createIncident"].(map[string]any)["id"].(string)
		delivered(t, h, hook, inc)
		truncated := false
		for _, e := range h.gql(t, `query($w: ID) { deliveries(webhookId: $w, first: 10) { edges { node { incident { id } attempts { truncated } } } } }`,
			map[string]any{"w": hook})["deliveries"].(map[string]any)["edges"].([]any) {
			n := e.(map[string]any)["node"].(map[string]any)
			if i, _ := n["incident"].(map[string]any); i != nil && i["id"] == inc {
				truncated = n["attempts"].([]any)[0].(map[string]any)["truncated"].(bool)
			}
		}
		if !truncated {
			t.Fatal("the API reports truncated: false for a body cut at the limit")
		}
		row := `#deliveries tbody tr[data-delivery]`
		run(t, ctx, chromedp.Navigate(h.base+"/incidents/"+inc+"#token="+adminToken), chromedp.WaitVisible(chromedp.CSS(row+" button.open")))
		run(t, ctx, chromedp.Click(chromedp.CSS(row+" button.open")), chromedp.WaitVisible(chromedp.ID("details")))
		waitText(t, ctx, "#d-req-b", "Long story")
		waitText(t, ctx, "#d-req-cut", "body cut at the limit")
		run(t, ctx, chromedp.Click(chromedp.ID("d-close")), chromedp.WaitNotVisible(chromedp.ID("details")))

		// An attempt whose body was not cut says nothing of the kind.
		run(t, ctx, chromedp.Navigate(h.base+"/incidents/"+incident(t, h, svc, "Short story")))
		run(t, ctx, chromedp.WaitVisible(chromedp.CSS(row+" button.open")), chromedp.Click(chromedp.CSS(row+" button.open")), chromedp.WaitVisible(chromedp.ID("details")))
		waitText(t, ctx, "#d-req-b", "Short story")
		if get(t, ctx, chromedp.Evaluate[bool](`!document.getElementById('d-req-cut').hidden`)) {
			t.Error("the details of an attempt whose body was whole say it was cut")
		}
		run(t, ctx, chromedp.Click(chromedp.ID("d-close")), chromedp.WaitNotVisible(chromedp.ID("details")))
	})

	t.Run("incident page lists its own deliveries among newer ones", func(t *testing.T) {
		// The page asks for the incident's deliveries (Incident.deliveries): newer deliveries of
		// other incidents do not push its own out of the first page.
		inc := incident(t, h, svc, "Old news")
		for i := range 60 {
			incident(t, h, svc, fmt.Sprintf("Newer %d", i))
		}
		run(t, ctx, chromedp.Navigate(h.base+"/incidents/"+inc+"#token="+adminToken))
		waitText(t, ctx, "#dl-count", "1 delivery")
		waitText(t, ctx, "#deliveries tbody", "chat")
	})

	b.check(t)
}

// delivered waits until the webhook's delivery for the incident has succeeded.
func delivered(t *testing.T, h *herald, webhook, incident string) {
	t.Helper()
	poll(t, "the delivery of "+incident+" succeeds", func() bool {
		edges := h.gql(t, `query($w: ID) { deliveries(webhookId: $w, first: 20) { edges { node { status incident { id } } } } }`,
			map[string]any{"w": webhook})["deliveries"].(map[string]any)["edges"].([]any)
		for _, e := range edges {
			n := e.(map[string]any)["node"].(map[string]any)
			if i, _ := n["incident"].(map[string]any); i != nil && i["id"] == incident {
				return n["status"] == "SUCCEEDED"
			}
		}
		return false
	})
}

// incident creates an incident on a service and returns its id.
func incident(t *testing.T, h *herald, service, title string) string {
	t.Helper()
	return h.gql(t, `mutation($s: ID!, $t: String!) { createIncident(input: { serviceId: $s, title: $t }) { id } }`,
		map[string]any{"s": service, "t": title})["createIncident"].(map[string]any)["id"].(string)
}

// pick chooses a webhook in the dashboard's live-log filter ("" for all), as a select does.
func pick(t *testing.T, ctx context.Context, webhook string) {
	t.Helper()
	js, _ := json.Marshal(webhook)
	get(t, ctx, chromedp.Evaluate[any](fmt.Sprintf(`(function(s){ s.value = %s; s.dispatchEvent(new Event('change', {bubbles: true})); })(document.getElementById('f-webhook'))`, js)))
}

// liveTest sends tests to a webhook until one reaches the dashboard's live log (a test send
// is not a delivery, so only the subscription brings it): the subscription is then in place.
func liveTest(t *testing.T, ctx context.Context, h *herald, webhook string) {
	t.Helper()
	var ids []string
	poll(t, "a test of "+webhook+" reaches the live log", func() bool {
		ids = append(ids, h.gql(t, `mutation($id: ID!) { testWebhook(id: $id) { id } }`, map[string]any{"id": webhook})["testWebhook"].(map[string]any)["id"].(string))
		sel := make([]string, len(ids))
		for i, id := range ids {
			sel[i] = `#log tr[data-attempt="` + id + `"]`
		}
		js, _ := json.Marshal(strings.Join(sel, ", "))
		found, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector(`+string(js)+`)`))
		return found
	})
}

// wsMessage is a graphql-transport-ws message the page sent.
type wsMessage struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Payload struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	} `json:"payload"`
}

// lastSubscribe waits until the last deliveryLog subscription the page sent after the first
// since messages has webhookId (none when it is "") among its variables, and returns its id.
func lastSubscribe(t *testing.T, b *browser, since int, webhookID string) string {
	t.Helper()
	var last wsMessage
	poll(t, "a deliveryLog subscription for webhook "+webhookID, func() bool {
		for _, m := range b.sent()[since:] {
			if m.Type == "subscribe" && strings.Contains(m.Payload.Query, "deliveryLog") {
				last = m
			}
		}
		got, _ := last.Payload.Variables["webhookId"].(string)
		return last.ID != "" && got == webhookID
	})
	return last.ID
}

// waitComplete waits until the page has ended the subscription with this id.
func waitComplete(t *testing.T, b *browser, id string) {
	t.Helper()
	poll(t, "the page ends subscription "+id, func() bool {
		for _, m := range b.sent() {
			if m.Type == "complete" && m.ID == id {
				return true
			}
		}
		return false
	})
}

// tabTo presses Tab (Shift+Tab backwards) until the element matching sel has focus, and
// returns what had focus on the way: ids, or the data-focus keys of generated controls.
func tabTo(t *testing.T, ctx context.Context, sel string, backwards bool) []string {
	t.Helper()
	var opts []chromedp.KeyOption
	if backwards {
		opts = append(opts, chromedp.KeyModifiers(chromedp.ModifierShift))
	}
	js, _ := json.Marshal(sel)
	var seen []string
	for range 80 {
		run(t, ctx, chromedp.KeyEvent(kb.Tab, opts...))
		at := get(t, ctx, chromedp.Evaluate[string](`(function(e){ return e.id || e.getAttribute('data-focus') || e.tagName.toLowerCase(); })(document.activeElement)`))
		seen = append(seen, at)
		if get(t, ctx, chromedp.Evaluate[bool](`document.activeElement === document.querySelector(`+string(js)+`)`)) {
			return seen
		}
	}
	t.Fatalf("Tab never reaches %s; it visits %v", sel, seen)
	return nil
}

// subsequence tells whether want appears in seen in order, other items between.
func subsequence(seen, want []string) bool {
	i := 0
	for _, s := range seen {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	return i == len(want)
}

// ---- Herald ------------------------------------------------------------------------------

type herald struct{ base string }

// startHerald builds and runs the real binary on SQLite, on a free loopback port, with
// private targets allowed so deliveries reach the local receiver.
func startHerald(t *testing.T) *herald {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "herald")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build herald: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"HERALD_ADDR=127.0.0.1:0",
		"HERALD_DATABASE_URL=sqlite:" + filepath.Join(dir, "herald.db"),
		"HERALD_ADMIN_TOKEN=" + adminToken,
		"HERALD_ALLOW_PRIVATE_TARGETS=true",
		"HERALD_LOG_LEVEL=warn",
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("herald stderr:\n%s", stderr.String())
		}
	})
	found := make(chan string, 1)
	go func() {
		listen := regexp.MustCompile(`listening on (http://\S+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listen.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case base := <-found:
		return &herald{base: base}
	case <-time.After(60 * time.Second):
		t.Fatalf("herald did not say where it listens; stderr:\n%s", stderr.String())
		return nil
	}
}

// gql runs one operation as the admin and fails the test on any error.
func (h *herald) gql(t *testing.T, query string, vars map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, h.base+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []any          `json:"errors"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Errors) > 0 {
		t.Fatalf("%s: %d %s", query, resp.StatusCode, raw)
	}
	return out.Data
}

// ---- receiver ----------------------------------------------------------------------------

type receiver struct {
	*httptest.Server
	count atomic.Int64
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.count.Add(1)
		w.Header().Set("X-Receiver", "browser-test")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"received":true}`)
	}))
	t.Cleanup(r.Close)
	return r
}

// ---- browser -----------------------------------------------------------------------------

// browser records what the pages did that they must not: requests to anything but
// 127.0.0.1, uncaught exceptions, console errors, error log entries (CSP violations) and
// alert/confirm/prompt dialogs.
type browser struct {
	mu       sync.Mutex
	requests []string
	problems []string
	frames   [][]byte // websocket text frames the pages sent
}

func (b *browser) note(list *[]string, s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	*list = append(*list, s)
}

func (b *browser) request(raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		b.note(&b.problems, "unparsable request URL "+raw)
		return
	}
	switch u.Scheme {
	case "data", "blob", "about":
		return
	}
	b.note(&b.requests, raw)
	if u.Hostname() != "127.0.0.1" {
		b.note(&b.problems, "request leaves 127.0.0.1: "+raw)
	}
}

// mark returns how many requests and problems were recorded so far, for checkSince.
func (b *browser) mark() [2]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return [2]int{len(b.requests), len(b.problems)}
}

// checkSince fails the test with the problems recorded since mark (requests leaving
// 127.0.0.1, page errors, CSP violations), and unless a request since then ended in path:
// the page was loaded, so the listener saw it.
func (b *browser) checkSince(t *testing.T, mark [2]int, path string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	loaded := false
	for _, r := range b.requests[mark[0]:] {
		if u, err := url.Parse(r); err == nil && u.Path == path {
			loaded = true
		}
	}
	if !loaded {
		t.Errorf("no request for %s was seen: the page did not load, or the listener does not work", path)
	}
	for _, p := range b.problems[mark[1]:] {
		t.Error(p)
	}
}

func (b *browser) check(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) == 0 {
		t.Error("no request was seen: the network listener is not working")
	}
	for _, p := range b.problems {
		t.Error(p)
	}
}

// sent returns the graphql-ws messages the pages sent so far.
func (b *browser) sent() []wsMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]wsMessage, 0, len(b.frames))
	for _, f := range b.frames {
		var m wsMessage
		if json.Unmarshal(f, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func newBrowser(t *testing.T) (context.Context, *browser) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(1366, 860),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser: no deadline on it (it would stop the browser).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return ctx, b
}

// listen runs in the tab's event loop: it only records.
func (b *browser) listen(ev any) {
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.request(ev.Request.URL)
	case *network.EventWebSocketCreated:
		b.request(ev.URL)
	case *network.EventWebSocketFrameSent:
		if ev.Response != nil && ev.Response.Opcode == 1 {
			b.mu.Lock()
			b.frames = append(b.frames, ev.Response.PayloadData)
			b.mu.Unlock()
		}
	case *page.EventJavascriptDialogOpening:
		// Only injected script would open one (an onerror=alert(1) that ran).
		b.note(&b.problems, fmt.Sprintf("the page opened a %s dialog: %q", ev.Type, ev.Message))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.note(&b.problems, fmt.Sprintf("page error at %s:%d: %s", d.URL, d.LineNumber+1, msg))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.note(&b.problems, "console error: "+strings.Join(args, " "))
		}
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			b.note(&b.problems, "browser log error: "+ev.Entry.Text+" "+ev.Entry.URL)
		}
	}
}

// run runs browser actions in order with a deadline.
func run(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	get(t, ctx, chromedp.Steps(steps...))
}

// get runs one browser action with a deadline and returns its value.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// waitJS polls a JavaScript expression until it is true.
func waitJS(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s: %v", expr, err)
	}
}

// waitText waits until the first element matching sel contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	js, _ := json.Marshal(sel)
	w, _ := json.Marshal(want)
	expr := fmt.Sprintf(`(function(){ var e = document.querySelector(%s); return !!e && e.innerText.includes(%s); })()`, js, w)
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%s)||{}).innerText || ""`, js)))
		t.Fatalf("waiting for %s to contain %q: %v; it holds %q", sel, want, err, got)
	}
}

// poll retries cond until it holds.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shoot saves a screenshot of the page to ../docs.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	run(t, ctx, chromedp.Sleep(300*time.Millisecond))
	png := get(t, ctx, chromedp.CaptureScreenshot())
	if err := os.MkdirAll(filepath.Join("..", "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
