package auth

import (
	"fmt"

	"github.com/VictoriaMetrics/metrics"
)

// Method is how a request was authenticated.
type Method string

const (
	MethodBasic   Method = "basic"   // Authorization: Basic, with a password or a token
	MethodBearer  Method = "bearer"  // Authorization: Bearer <token>
	MethodSession Method = "session" // the vigil_session cookie
	MethodForm    Method = "form"    // the login form (only in metrics)
	MethodNone    Method = "none"    // authentication disabled (--auth=none)
)

// Attempt results, the result label of vigil_auth_attempts_total.
const (
	resultSuccess = "success"
	resultFailure = "failure"
	resultLocked  = "locked"
)

// authMetrics are the self-metrics. Counters are created on first use in
// the configured set.
type authMetrics struct {
	set *metrics.Set
}

func newAuthMetrics(set *metrics.Set) *authMetrics { return &authMetrics{set: set} }

func (m *authMetrics) counter(name string) *metrics.Counter {
	if m.set == nil {
		return metrics.GetOrCreateCounter(name)
	}
	return m.set.GetOrCreateCounter(name)
}

// attempt counts vigil_auth_attempts_total{method,result}.
func (m *authMetrics) attempt(method Method, result string) {
	m.counter(fmt.Sprintf(`vigil_auth_attempts_total{method=%q,result=%q}`, method, result)).Inc()
}

// lockout counts vigil_auth_lockouts_total{scope="name|ip"}.
func (m *authMetrics) lockout(scope string) {
	m.counter(fmt.Sprintf(`vigil_auth_lockouts_total{scope=%q}`, scope)).Inc()
}
