//go:build unix

package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEventAPI: events in through POST /api/v1/events/..., PromQL and the
// Panic platform's summaries out.
func TestEventAPI(t *testing.T) {
	p := startVigilProcess(t)
	writer := clientAs("celery", createUserViaAPI(t, p.BaseURL, "celery", "writer"))
	post := func(c *http.Client, kind, body string, want int) string {
		t.Helper()
		return postEvents(t, c, p.BaseURL+"/api/v1/events/"+kind, body, want)
	}
	post(writer, "panic-request", `{"service_type":"security","status":"accepted","firm_id":"firm123","zone":"downtown","response_time":180.5}`, 200)
	post(writer, "panic-request", `[{"service_type":"medical","status":"accepted","firm_id":"firm7","zone":"uptown","response_time":400},
		{"id":"e3","service_type":"medical","status":"accepted","firm_id":"firm7","zone":"uptown","response_time":500}]`, 200)
	if got := post(writer, "panic-request", `{"id":"e3","service_type":"medical","status":"accepted","firm_id":"firm7","zone":"uptown","response_time":500}`, 200); !strings.Contains(got, `"retried":1`) {
		t.Errorf("a retried event: %s", got)
	}
	post(writer, "auth", "{\"user_type\":\"registered_user\",\"success\":false,\"account_locked\":true}\n{\"user_type\":\"registered_user\",\"success\":true}", 200)
	post(writer, "notification", `{"channel":"sms","status":"sent"}`, 200)
	if got := post(writer, "panic-request", `[{"service_type":"security","status":"accepted","firm_id":"f","zone":"z"},{"service_type":"security","status":"accepted","firm_id":"f","zone":"z","response_time":-3}]`, 400); !strings.Contains(got, `"field":"response_time"`) || !strings.Contains(got, `"index":1`) {
		t.Errorf("a bad batch: %s", got)
	}
	post(writer, "purchase", `{}`, 400)
	post(clientAs("reader", createUserViaAPI(t, p.BaseURL, "reader", "viewer")), "auth", `{"user_type":"u","success":true}`, 403)

	c := adminClient()
	waitQuery(t, c, p.BaseURL, `sum(panic_requests_total)`, "3")
	waitQuery(t, c, p.BaseURL, `sum(panic_request_response_time_seconds_bucket{le="600"})`, "3")
	waitQuery(t, c, p.BaseURL, `sum(panic_request_response_time_seconds_bucket{le="300"})`, "1")
	waitQuery(t, c, p.BaseURL, `auth_account_lockouts_total{user_type="registered_user"}`, "1")
	waitQuery(t, c, p.BaseURL, `notifications_sent_total`, "1")
	var business struct {
		PanicRequests []struct {
			Labels map[string]string
			Value  float64
		} `json:"panic_requests"`
	}
	getJSON(t, c, p.BaseURL+"/api/v1/metrics/business?hours=1", &business)
	if len(business.PanicRequests) != 2 {
		t.Errorf("business summary of the events: %+v", business)
	}
	p.Stop()

	// After a restart: the counters go on from their stored values, and
	// an event sent again with its id still counts once.
	p = startVigilProcess(t, "--data-dir="+p.DataDir)
	writer = clientAs("celery", "password-of-celery")
	if got := post(writer, "panic-request", `{"id":"e3","service_type":"medical","status":"accepted","firm_id":"firm7","zone":"uptown","response_time":500}`, 200); !strings.Contains(got, `"retried":1`) {
		t.Errorf("a retry after the restart: %s", got)
	}
	post(writer, "panic-request", `{"service_type":"medical","status":"accepted","firm_id":"firm7","zone":"uptown","response_time":30}`, 200)
	waitQuery(t, c, p.BaseURL, `sum(panic_requests_total)`, "4")
	waitQuery(t, c, p.BaseURL, `panic_request_response_time_seconds_count{firm_id="firm7"}`, "3")
	waitQuery(t, c, p.BaseURL, `sum(resets(panic_requests_total[1h]))`, "0")
	p.Stop()
}

// TestCustomEvents: metrics declared in the config file recorded through
// POST /api/v1/events/custom/<metric>, refused outside their declaration,
// exposed and queryable; a SIGHUP adds one and drops another; after a
// restart the counters and the label caps go on.
func TestCustomEvents(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "vigil.yml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const orders = `events:
  metrics:
    - name: orders_total
      type: counter
      help: Orders placed.
      labels:
        - {name: channel, values: [web, app]}
        - {name: region, max_values: 2}
`
	write(orders)
	dataDir := filepath.Join(dir, "data")
	p := startVigilProcess(t, "--config="+cfgFile, "--data-dir="+dataDir)
	c := adminClient()
	writer := clientAs("shop", createUserViaAPI(t, p.BaseURL, "shop", "writer"))
	post := func(metric, body string, want int) string {
		t.Helper()
		return postEvents(t, writer, p.BaseURL+"/api/v1/events/custom/"+metric, body, want)
	}
	post("orders_total", "{\"channel\":\"web\",\"region\":\"north\",\"inc\":2}\n{\"channel\":\"app\",\"region\":\"south\",\"id\":\"o1\"}", 200)
	if got := post("orders_total", `{"channel":"app","region":"east"}`, 400); !strings.Contains(got, `"field":"region"`) || !strings.Contains(got, "max_values of orders_total's label region is 2") {
		t.Errorf("a third region: %s", got)
	}
	if got := post("signups_total", `{}`, 400); !strings.Contains(got, `unknown metric \"signups_total\"`) {
		t.Errorf("an undeclared metric: %s", got)
	}
	waitQuery(t, c, p.BaseURL, `sum(orders_total)`, "3")
	waitQuery(t, c, p.BaseURL, `count(orders_total)`, "2")
	var exposition string
	waitFor(t, 20*time.Second, "orders_total in the exposition", func() bool {
		_, exposition = statusOf(t, c, "GET", p.BaseURL+"/api/v1/metrics/prometheus", "", nil)
		return strings.Contains(exposition, `orders_total{channel="web",region="north"} 2`)
	})
	if !strings.Contains(exposition, "# HELP orders_total Orders placed.\n# TYPE orders_total counter\n") {
		t.Errorf("the exposition lacks orders_total's HELP and TYPE")
	}

	// A SIGHUP adds signups_total.
	write(orders + "    - {name: signups_total, type: counter}\n")
	p.Signal(syscall.SIGHUP)
	waitFor(t, 20*time.Second, "the reload", func() bool {
		resp, err := writer.Post(p.BaseURL+"/api/v1/events/custom/signups_total", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	p.Stop()

	// After a restart (signups_total dropped from the file): the counter
	// goes on, the cap still counts north and south, the id is still known.
	write(orders)
	p = startVigilProcess(t, "--config="+cfgFile, "--data-dir="+dataDir)
	post("orders_total", `{"channel":"web","region":"north"}`, 200)
	if got := post("orders_total", `{"channel":"app","region":"south","id":"o1"}`, 200); !strings.Contains(got, `"retried":1`) {
		t.Errorf("a retry after the restart: %s", got)
	}
	post("orders_total", `{"channel":"app","region":"west"}`, 400)
	post("signups_total", `{}`, 400)
	waitQuery(t, c, p.BaseURL, `orders_total{region="north"}`, "3")
	waitQuery(t, c, p.BaseURL, `sum(resets(orders_total[1h]))`, "0")
	p.Stop()
}

// postEvents posts body to the event API at url with c, requires the
// status want and returns the answer.
func postEvents(t *testing.T, c *http.Client, url, body string, want int) string {
	t.Helper()
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s %s = %s %s, want %d", url, body, resp.Status, b, want)
	}
	return string(b)
}
