package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sealgate/sealgate/config"
	"github.com/sealgate/sealgate/crypto/dkim"
	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/queue"
	"github.com/sealgate/sealgate/smtpd"
)

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (default: embedded defaults)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "sealgate:", err)
		return 1
	}
	return 0
}

// loadConfig reads the file, or takes the embedded defaults without one.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Embedded(), nil
	}
	return config.Load(path)
}

// serve runs the gateway until ctx is done, then shuts down in order: stop
// accepting, let open SMTP sessions finish, stop the scheduler, close the DB.
func serve(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	dataDir := cfg.Path(cfg.DataDir)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	key, err := queueKey(cfg)
	if err != nil {
		return err
	}
	cert, err := serverCertificate(cfg)
	if err != nil {
		return err
	}
	dkimKeys, err := dkimKeys(cfg, stdout)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sealgate_build_info", Help: "Always 1; the version label says which build runs.",
		ConstLabels: prometheus.Labels{"version": version},
	}, func() float64 { return 1 }))

	dopts, err := deliveryOptions(cfg)
	if err != nil {
		return err
	}
	dopts.Logger = log.With("part", "delivery")
	dopts.Registerer = reg
	if len(dkimKeys) > 0 {
		signer, err := dkim.NewSigner(dkimKeys)
		if err != nil {
			return err
		}
		dopts.Signer = signer
	}
	policies, tlsMem, err := tlsPolicies(cfg, dopts, reg, log.With("part", "delivery"))
	if err != nil {
		return err
	}
	dopts.Policies = policies
	client, err := delivery.New(dopts)
	if err != nil {
		return err
	}

	var track *tracker
	if cfg.Tracking.Enabled {
		if track, err = newTracker(cfg, reg, log.With("part", "tracking")); err != nil {
			return err
		}
		defer track.Close()
	}

	qopts := queueOptions(cfg, key)
	protector, err := newProtector(cfg, client, dopts.Resolver, reg, log.With("part", "protect"))
	if err != nil {
		return err
	}
	qopts.Deliverer = deliverer{p: protector, tracker: track, tlsMem: tlsMem, log: log.With("part", "deliver")}
	qopts.Logger = log.With("part", "queue")
	qopts.Registerer = reg
	q, err := queue.Open(qopts)
	if err != nil {
		return err
	}
	defer q.Close()

	sopts, err := smtpdOptions(cfg, cert)
	if err != nil {
		return err
	}
	insp, err := newInspector(cfg, log.With("part", "policy"))
	if err != nil {
		return err
	}
	sopts.Spooler = spooler{q: q, inspect: insp}
	sopts.Logger = log.With("part", "smtpd")
	sopts.Registerer = reg
	srv, err := smtpd.New(sopts)
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}

	var httpServers []*http.Server
	startHTTP := func(name, addr string, h http.Handler) (net.Addr, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s listener %s: %w", name, addr, err)
		}
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		httpServers = append(httpServers, hs)
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http listener stopped", "name", name, "err", err)
			}
		}()
		return ln.Addr(), nil
	}
	var metricsAddr, webAddr net.Addr
	if cfg.Metrics.Address != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		if metricsAddr, err = startHTTP("metrics", cfg.Metrics.Address, mux); err != nil {
			srv.Close()
			return err
		}
	}
	if cfg.Web.Address != "" {
		if webAddr, err = startHTTP("web", cfg.Web.Address, webHandler(track)); err != nil {
			srv.Close()
			return err
		}
	}
	ctl, err := startControl(cfg.DataPath(controlSocket), q, log)
	if err != nil {
		srv.Close()
		return err
	}
	httpServers = append(httpServers, ctl)

	srv.Serve()
	qctx, stopQueue := context.WithCancel(context.Background())
	queueDone := make(chan error, 1)
	go func() { queueDone <- q.Run(qctx) }()
	trackDone := make(chan error, 1)
	if track != nil {
		go func() { trackDone <- track.run(qctx) }()
	} else {
		trackDone <- nil
	}

	printReady(stdout, cfg, srv.Addrs(), metricsAddr, webAddr)
	log.Info("sealgate started", "version", version, "hostname", cfg.Hostname, "data_dir", dataDir)

	<-ctx.Done()
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("smtp shutdown", "err", err)
		srv.Close()
	}
	for _, hs := range httpServers {
		hs.Shutdown(shutdownCtx)
	}
	stopQueue()
	if err := <-queueDone; err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("queue stopped", "err", err)
	}
	if err := <-trackDone; err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("tracking stopped", "err", err)
	}
	return nil
}

// webHandler is the web listener: health, and with tracking on, the /t/
// tracking endpoints and the report API and pages.
func webHandler(track *tracker) http.Handler {
	mux := http.NewServeMux()
	if track != nil {
		mux.Handle("/t/", track.handler)
		mux.Handle("/api/", track.reports)
		mux.Handle("/reports/", track.reports)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	return mux
}

// printReady tells a person (and tests) where the gateway listens and what
// to try next. The first line is stable: "sealgate ready smtp=ADDR[,ADDR]".
func printReady(w io.Writer, cfg *config.Config, smtpAddrs []net.Addr, metricsAddr, webAddr net.Addr) {
	var smtp []string
	for _, a := range smtpAddrs {
		smtp = append(smtp, a.String())
	}
	line := "sealgate ready smtp=" + strings.Join(smtp, ",")
	if metricsAddr != nil {
		line += " metrics=" + metricsAddr.String()
	}
	if webAddr != nil {
		line += " web=" + webAddr.String()
	}
	fmt.Fprintln(w, line)
	if cfg.File != "" {
		return
	}
	host, port, _ := net.SplitHostPort(smtp[0])
	fmt.Fprintf(w, `
Running on embedded defaults (data in %s). Try:
  swaks --server %s --port %s --tls --from you@%s --to someone@example.org --header "Subject: test"
  curl -s http://%s/metrics | grep ^sealgate_
  %s queue list
Point Postfix at it with: relayhost = [%s]:%s
Stop with Ctrl-C.
`, cfg.Path(cfg.DataDir), host, port, cfg.Hostname, addrOr(metricsAddr, cfg.Metrics.Address), selfPath(), host, port)
}

// selfPath is how the user ran this binary, for the hints it prints.
func selfPath() string {
	if len(os.Args) > 0 && strings.Contains(os.Args[0], "/") {
		return os.Args[0]
	}
	return "sealgate"
}

func addrOr(a net.Addr, fallback string) string {
	if a == nil {
		return fallback
	}
	return a.String()
}

// systemRootsPlus is the system trust store (honouring SSL_CERT_FILE and
// SSL_CERT_DIR) plus the certificates in path.
func systemRootsPlus(path string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("no PEM certificates found")
	}
	return pool, nil
}
