//go:build unix

package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestEventAPI: events in through POST /api/v1/events/..., PromQL and the
// Panic platform's summaries out.
func TestEventAPI(t *testing.T) {
	p := startVigilProcess(t)
	writer := clientAs("celery", createUserViaAPI(t, p.BaseURL, "celery", "writer"))
	post := func(c *http.Client, kind, body string, want int) string {
		t.Helper()
		resp, err := c.Post(p.BaseURL+"/api/v1/events/"+kind, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("POST %s %s = %s %s, want %d", kind, body, resp.Status, b, want)
		}
		return string(b)
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
}
