package remotewrite

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/flagutil"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/promauth"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/promrelabel"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/promutil"

	"github.com/vigil-monitoring/vigil/internal/readable"
)

// Config is one remote_write entry, with the keys and defaults of
// prometheus.yml's remote_write; Vigil's own config file takes the same
// entries. The yaml tags serve both yaml.v2 (prometheus.yml) and yaml.v3
// (Vigil's file).
type Config struct {
	URL                 string                      `yaml:"url"`
	Name                string                      `yaml:"name,omitempty"`
	RemoteTimeout       *promutil.Duration          `yaml:"remote_timeout,omitempty"`
	Headers             map[string]string           `yaml:"headers,omitempty"`
	WriteRelabelConfigs []promrelabel.RelabelConfig `yaml:"write_relabel_configs,omitempty"`

	BasicAuth       *promauth.BasicAuthConfig `yaml:"basic_auth,omitempty"`
	Authorization   *promauth.Authorization   `yaml:"authorization,omitempty"`
	BearerToken     *promauth.Secret          `yaml:"bearer_token,omitempty"`
	BearerTokenFile string                    `yaml:"bearer_token_file,omitempty"`
	OAuth2          *promauth.OAuth2Config    `yaml:"oauth2,omitempty"`
	TLSConfig       *promauth.TLSConfig       `yaml:"tls_config,omitempty"`
	ProxyURL        string                    `yaml:"proxy_url,omitempty"`
	FollowRedirects *bool                     `yaml:"follow_redirects,omitempty"`
	EnableHTTP2     *bool                     `yaml:"enable_http2,omitempty"`

	QueueConfig    QueueConfig     `yaml:"queue_config,omitempty"`
	MetadataConfig *MetadataConfig `yaml:"metadata_config,omitempty"`

	SendExemplars        bool   `yaml:"send_exemplars,omitempty"`
	SendNativeHistograms bool   `yaml:"send_native_histograms,omitempty"`
	ProtobufMessage      string `yaml:"protobuf_message,omitempty"`
	RoundRobinDNS        bool   `yaml:"round_robin_dns,omitempty"`

	// Options of Prometheus that Vigil does not implement. They are
	// parsed only so that using one stops the start with a message that
	// names it (see unsupportedOptions) instead of a generic parse error.
	SigV4                any `yaml:"sigv4,omitempty"`
	AzureAD              any `yaml:"azuread,omitempty"`
	GoogleIAM            any `yaml:"google_iam,omitempty"`
	NoProxy              any `yaml:"no_proxy,omitempty"`
	ProxyFromEnvironment any `yaml:"proxy_from_environment,omitempty"`
	ProxyConnectHeader   any `yaml:"proxy_connect_header,omitempty"`
	HTTPHeaders          any `yaml:"http_headers,omitempty"`

	// MaxDiskUsage, Vigil's own key, bounds this remote's queue on disk
	// (e.g. 2GiB); past it the oldest queued samples are dropped. Empty
	// means DefaultMaxDiskUsage.
	MaxDiskUsage string `yaml:"vigil_max_disk_usage,omitempty"`
}

// QueueConfig is queue_config: how samples are batched and retried.
// Zero values take Prometheus' defaults.
type QueueConfig struct {
	// Capacity is how many samples per shard Vigil reads ahead from the
	// disk queue into memory for one round of sending.
	Capacity int `yaml:"capacity,omitempty"`
	// MinShards and MaxShards bound how many requests are sent at once.
	MinShards int `yaml:"min_shards,omitempty"`
	MaxShards int `yaml:"max_shards,omitempty"`
	// MaxSamplesPerSend is the most samples in one request.
	MaxSamplesPerSend int `yaml:"max_samples_per_send,omitempty"`
	// BatchSendDeadline is how long samples wait for a fuller request.
	BatchSendDeadline *promutil.Duration `yaml:"batch_send_deadline,omitempty"`
	// MinBackoff and MaxBackoff bound the wait between retries, which
	// doubles from the first to the second.
	MinBackoff *promutil.Duration `yaml:"min_backoff,omitempty"`
	MaxBackoff *promutil.Duration `yaml:"max_backoff,omitempty"`
	// RetryOnRateLimit is Prometheus' retry_on_http_429; Vigil always
	// retries 429, so only true (or leaving it out) is accepted.
	RetryOnRateLimit *bool `yaml:"retry_on_http_429,omitempty"`
	// SampleAgeLimit drops samples older than this when they are sent;
	// 0 sends every sample however old.
	SampleAgeLimit *promutil.Duration `yaml:"sample_age_limit,omitempty"`
}

// MetadataConfig is metadata_config. Vigil sends no metadata, so only
// send: false is accepted; the other keys are read and unused.
type MetadataConfig struct {
	Send              *bool              `yaml:"send,omitempty"`
	SendInterval      *promutil.Duration `yaml:"send_interval,omitempty"`
	MaxSamplesPerSend int                `yaml:"max_samples_per_send,omitempty"`
}

// The defaults of Prometheus' remote_write, and Vigil's queue bound.
const (
	DefaultRemoteTimeout     = 30 * time.Second
	DefaultCapacity          = 10000
	DefaultMinShards         = 1
	DefaultMaxShards         = 50
	DefaultMaxSamplesPerSend = 2000
	DefaultBatchSendDeadline = 5 * time.Second
	DefaultMinBackoff        = 30 * time.Millisecond
	DefaultMaxBackoff        = 5 * time.Second

	// DefaultMaxDiskUsage bounds a remote's queue on disk when the
	// remote sets no vigil_max_disk_usage: at the ~20 bytes per sample
	// of the queue's encoding, tens of millions of samples.
	DefaultMaxDiskUsage = 1 << 30

	// minDiskUsage is the smallest bound: the queue keeps whole blocks
	// of up to maxBlockBytes.
	minDiskUsage = 1 << 20
)

// settings is a checked Config, ready for a queue and a sender.
type settings struct {
	cfg  Config
	key  string // the queue's directory name under <data-dir>/remote-write
	name string // Name, or the key when Name is empty, for logs and metrics
	url  string

	timeout           time.Duration
	capacity          int
	minShards         int
	maxShards         int
	maxSamplesPerSend int
	batchSendDeadline time.Duration
	minBackoff        time.Duration
	maxBackoff        time.Duration
	sampleAgeLimit    time.Duration
	maxDiskBytes      int64
	followRedirects   bool
	enableHTTP2       bool
	proxyURL          *url.URL

	auth           *promauth.Config
	relabel        *promrelabel.ParsedConfigs
	externalLabels []prompb.Label // sorted by name
}

// reservedHeaders are set by the sender itself; headers may not change
// them, as in Prometheus.
var reservedHeaders = []string{
	"Authorization", "Content-Encoding", "Content-Type", "User-Agent",
	"X-Prometheus-Remote-Write-Version", "Host",
}

// safeName is what a remote's name must look like to name its queue's
// directory.
var safeName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// check validates c and derives its settings. Paths of *_file options are
// relative to baseDir. Every problem is reported, each naming the option
// and what to do.
func (c Config) check(baseDir string, externalLabels map[string]string) (*settings, []error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	s := &settings{cfg: c}

	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		bad("url is missing; give the remote's write endpoint, e.g. http://vminsert:8480/insert/0/prometheus/api/v1/write")
	case err != nil:
		bad("url %q: %v", c.URL, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		bad("url %q: must be an absolute http:// or https:// URL", c.URL)
	}
	s.url = c.URL

	switch {
	case c.Name == "":
		sum := sha256.Sum256([]byte(c.URL))
		s.key = "url-" + hex.EncodeToString(sum[:8])
		s.name = s.key
	case !safeName.MatchString(c.Name) || c.Name == "." || c.Name == "..":
		bad("name %q: Vigil names the remote's queue directory after it; use letters, digits, '_', '.' and '-'", c.Name)
	default:
		s.key, s.name = c.Name, c.Name
	}

	errs = append(errs, c.unsupportedOptions()...)

	s.timeout = durationOr(c.RemoteTimeout, DefaultRemoteTimeout)
	q := c.QueueConfig
	s.capacity = intOr(q.Capacity, DefaultCapacity)
	s.minShards = intOr(q.MinShards, DefaultMinShards)
	s.maxShards = intOr(q.MaxShards, DefaultMaxShards)
	s.maxSamplesPerSend = intOr(q.MaxSamplesPerSend, DefaultMaxSamplesPerSend)
	s.batchSendDeadline = durationOr(q.BatchSendDeadline, DefaultBatchSendDeadline)
	s.minBackoff = durationOr(q.MinBackoff, DefaultMinBackoff)
	s.maxBackoff = durationOr(q.MaxBackoff, DefaultMaxBackoff)
	s.sampleAgeLimit = durationOr(q.SampleAgeLimit, 0)
	for _, f := range []struct {
		key string
		n   int
	}{{"capacity", q.Capacity}, {"min_shards", q.MinShards}, {"max_shards", q.MaxShards}, {"max_samples_per_send", q.MaxSamplesPerSend}} {
		if f.n < 0 {
			bad("queue_config: %s %d: must be greater than 0 (or left out for the default)", f.key, f.n)
		}
	}
	for _, f := range []struct {
		key string
		d   *promutil.Duration
	}{{"remote_timeout", c.RemoteTimeout}, {"queue_config: batch_send_deadline", q.BatchSendDeadline}, {"queue_config: min_backoff", q.MinBackoff}, {"queue_config: max_backoff", q.MaxBackoff}, {"queue_config: sample_age_limit", q.SampleAgeLimit}} {
		if f.d != nil && f.d.Duration() < 0 {
			bad("%s %s: must not be negative", f.key, f.d.Duration())
		}
	}
	if s.minShards > s.maxShards {
		bad("queue_config: min_shards %d is greater than max_shards %d", s.minShards, s.maxShards)
	}
	if s.minBackoff > s.maxBackoff {
		bad("queue_config: min_backoff %s is greater than max_backoff %s", s.minBackoff, s.maxBackoff)
	}
	if s.capacity < s.maxSamplesPerSend {
		// As Prometheus advises: a shard could never fill a request.
		bad("queue_config: capacity %d is smaller than max_samples_per_send %d; make it at least as large", s.capacity, s.maxSamplesPerSend)
	}
	if s.maxSamplesPerSend > maxSamplesPerSendLimit {
		bad("queue_config: max_samples_per_send %d is more than Vigil sends in one request (%d)", s.maxSamplesPerSend, maxSamplesPerSendLimit)
	}
	if q.RetryOnRateLimit != nil && !*q.RetryOnRateLimit {
		bad("queue_config: retry_on_http_429: false is not supported: Vigil always retries a 429 answer (honouring Retry-After); remove the option")
	}

	s.maxDiskBytes = DefaultMaxDiskUsage
	if c.MaxDiskUsage != "" {
		n, err := flagutil.ParseBytes(c.MaxDiskUsage)
		switch {
		case err != nil:
			bad("vigil_max_disk_usage %q: not a size; write it as 512MiB, 2GiB or 500MB", c.MaxDiskUsage)
		case n < minDiskUsage:
			bad("vigil_max_disk_usage %q: must be at least 1MiB", c.MaxDiskUsage)
		default:
			s.maxDiskBytes = n
		}
	}

	s.followRedirects = c.FollowRedirects == nil || *c.FollowRedirects
	s.enableHTTP2 = c.EnableHTTP2 == nil || *c.EnableHTTP2
	if c.ProxyURL != "" {
		pu, err := url.Parse(c.ProxyURL)
		if err != nil || pu.Host == "" {
			bad("proxy_url %q: not an absolute URL such as http://proxy:3128", c.ProxyURL)
		} else {
			s.proxyURL = pu
		}
	}

	var headers []string
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		canonical := http.CanonicalHeaderKey(name)
		if slices.Contains(reservedHeaders, canonical) {
			bad("headers: %q is set by Vigil itself and cannot be changed; use authorization or basic_auth for credentials", name)
			continue
		}
		headers = append(headers, canonical+": "+c.Headers[name])
	}
	for _, f := range c.credentialFiles() {
		path := f.path
		if !filepath.IsAbs(path) {
			path = filepath.Join(baseDir, path)
		}
		if err := readable.File(path); err != nil {
			bad("%s %q: %v", f.key, f.path, err)
		}
	}
	auth, err := (&promauth.Options{
		BaseDir:         baseDir,
		Authorization:   c.Authorization,
		BasicAuth:       c.BasicAuth,
		BearerToken:     c.BearerToken.String(),
		BearerTokenFile: c.BearerTokenFile,
		OAuth2:          c.OAuth2,
		TLSConfig:       c.TLSConfig,
		Headers:         headers,
	}).NewConfig()
	if err != nil {
		bad("credentials or TLS: %v", err)
	}
	s.auth = auth

	if s.relabel, err = promrelabel.ParseRelabelConfigs(c.WriteRelabelConfigs); err != nil {
		bad("write_relabel_configs: %v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(externalLabels)) {
		s.externalLabels = append(s.externalLabels, prompb.Label{Name: name, Value: externalLabels[name]})
	}
	return s, errs
}

// unsupportedOptions names the options of Prometheus' remote_write that
// Vigil does not implement, with what to do instead.
func (c Config) unsupportedOptions() []error {
	var errs []error
	unsupported := func(set bool, key, why string) {
		if set {
			errs = append(errs, fmt.Errorf("unsupported option %q: %s", key, why))
		}
	}
	unsupported(c.SigV4 != nil, "sigv4", "Vigil cannot sign requests for AWS; send to a signing proxy (e.g. aws-sigv4-proxy) instead")
	unsupported(c.AzureAD != nil, "azuread", "Vigil cannot authenticate with Azure AD; use oauth2, authorization or a proxy")
	unsupported(c.GoogleIAM != nil, "google_iam", "Vigil cannot authenticate with Google IAM; use oauth2, authorization or a proxy")
	unsupported(c.NoProxy != nil, "no_proxy", "set proxy_url only on the remotes that need the proxy")
	unsupported(c.ProxyFromEnvironment != nil, "proxy_from_environment", "give the proxy as proxy_url")
	unsupported(c.ProxyConnectHeader != nil, "proxy_connect_header", "give the proxy's credentials in proxy_url (http://user:password@proxy:3128)")
	unsupported(c.HTTPHeaders != nil, "http_headers", "use headers (name: value)")
	unsupported(c.RoundRobinDNS, "round_robin_dns", "put the remote's addresses behind one load-balanced name")
	unsupported(c.SendExemplars, "send_exemplars", "Vigil stores no exemplars, so there are none to send; remove the option")
	unsupported(c.SendNativeHistograms, "send_native_histograms", "Vigil stores no native histograms, so there are none to send; remove the option")
	if m := c.MetadataConfig; m != nil && (m.Send == nil || *m.Send) {
		errs = append(errs, errors.New(`unsupported option "metadata_config: send: true": Vigil does not send metric metadata; write send: false or remove metadata_config`))
	}
	switch c.ProtobufMessage {
	case "", "prometheus.WriteRequest":
	case "io.prometheus.write.v2.Request":
		errs = append(errs, errors.New(`unsupported option "protobuf_message: io.prometheus.write.v2.Request": Vigil sends remote write 1.0 (prometheus.WriteRequest), which Prometheus, Mimir, Thanos and VictoriaMetrics take alongside 2.0; remove the option`))
	default:
		errs = append(errs, fmt.Errorf("protobuf_message %q: unknown message; Vigil sends prometheus.WriteRequest (remote write 1.0)", c.ProtobufMessage))
	}
	return errs
}

type credentialFile struct{ key, path string }

// credentialFiles lists the files c reads credentials and certificates
// from, so that a missing one stops the start rather than every request.
func (c Config) credentialFiles() []credentialFile {
	var out []credentialFile
	add := func(key, path string) {
		if path != "" {
			out = append(out, credentialFile{key, path})
		}
	}
	if c.BasicAuth != nil {
		add("basic_auth: password_file", c.BasicAuth.PasswordFile)
		add("basic_auth: username_file", c.BasicAuth.UsernameFile)
	}
	if c.Authorization != nil {
		add("authorization: credentials_file", c.Authorization.CredentialsFile)
	}
	add("bearer_token_file", c.BearerTokenFile)
	if c.OAuth2 != nil {
		add("oauth2: client_secret_file", c.OAuth2.ClientSecretFile)
	}
	if t := c.TLSConfig; t != nil {
		add("tls_config: ca_file", t.CAFile)
		add("tls_config: cert_file", t.CertFile)
		add("tls_config: key_file", t.KeyFile)
	}
	return out
}

// Source is a list of remote_write entries and the file they came from.
type Source struct {
	// File names the entries in errors ("prometheus.yml", "vigil.yml").
	File string
	// BaseDir is what relative paths of the entries are relative to.
	BaseDir string
	Entries []Config
}

// Check validates the entries of every source as Vigil would run them:
// each entry's options, and names (queue directories) unique across all
// sources. The error names the file and the entry of every problem.
func Check(sources []Source, externalLabels map[string]string) error {
	_, err := checkAll(sources, externalLabels)
	return err
}

func checkAll(sources []Source, externalLabels map[string]string) ([]*settings, error) {
	var errs []error
	var all []*settings
	seen := map[string]string{}
	for _, src := range sources {
		for i, c := range src.Entries {
			where := fmt.Sprintf("%s: remote_write[%d]", src.File, i)
			if c.Name != "" {
				where += fmt.Sprintf(" (name %q)", c.Name)
			} else if c.URL != "" {
				where += fmt.Sprintf(" (url %q)", c.URL)
			}
			s, problems := c.check(src.BaseDir, externalLabels)
			for _, err := range problems {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
			if len(problems) > 0 {
				continue
			}
			if prev, ok := seen[s.key]; ok {
				if c.Name != "" {
					errs = append(errs, fmt.Errorf("%s: the name %q is already used by %s; names must be unique", where, c.Name, prev))
				} else {
					errs = append(errs, fmt.Errorf("%s: the url is already sent to by %s; give the entries different names if both are meant", where, prev))
				}
				continue
			}
			seen[s.key] = where
			all = append(all, s)
		}
	}
	return all, errors.Join(errs...)
}

func intOr(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

func durationOr(d *promutil.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration() == 0 {
		return def
	}
	return d.Duration()
}

// describe is the remote as logs name it.
func (s *settings) describe() string {
	if s.cfg.Name != "" {
		return fmt.Sprintf("%s (%s)", s.cfg.Name, redactURL(s.url))
	}
	return redactURL(s.url)
}

// redactURL hides the password of a URL with credentials.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// sameSending reports whether a and b send the same way, so that a
// running sender can keep going; the queue bound is the queue's.
func (s *settings) sameSending(o *settings) bool {
	a, b := s.cfg, o.cfg
	a.MaxDiskUsage, b.MaxDiskUsage = "", ""
	return reflect.DeepEqual(a, b) && slices.Equal(s.externalLabels, o.externalLabels)
}
