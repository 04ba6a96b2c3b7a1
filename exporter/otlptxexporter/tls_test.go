package otlptxexporter

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"

	"github.com/otelcol-ready/otelcol-ready/receiver/otlptxreceiver"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client certificate, all
// generated for this test run.
type testPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "otlptx test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	write := func(name, blockType string, der []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600))
		return path
	}
	issue := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		return write(name+".crt", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", keyDER)
	}
	p := testPKI{caFile: write("ca.crt", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = issue("gateway", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue("sidecar", 3, x509.ExtKeyUsageClientAuth)
	return p
}

// TestExportOverMutualTLS: the gateway requires a client certificate signed by the CA;
// the exporter presents one and verifies the gateway's.
func TestExportOverMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	gw := startGateway(t, "", func(cfg *otlptxreceiver.Config) {
		cfg.ServerConfig.TLS = configoptional.Some(configtls.ServerConfig{
			Config:       configtls.Config{CertFile: pki.serverCert, KeyFile: pki.serverKey},
			ClientCAFile: pki.caFile,
		})
	})
	endpoint := "https" + gw.endpoint[len("http"):]

	cfg := testConfig(endpoint)
	cfg.ClientConfig.TLS = configtls.ClientConfig{
		Config: configtls.Config{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey},
	}
	p := startPipelines(t, cfg, nil)
	sent := sendMixed(t, p, 2, 90)
	require.Eventually(t, func() bool { return gw.items() == sent }, 10*time.Second, 10*time.Millisecond)
	p.shutdown(t)

	// Without a client certificate the gateway refuses the connection.
	noCert := testConfig(endpoint)
	noCert.ClientConfig.TLS = configtls.ClientConfig{Config: configtls.Config{CAFile: pki.caFile}}
	noCert.Retry.Enabled = false
	p = startPipelines(t, noCert, nil)
	sendMixed(t, p, 1, 95) // accepted into the queue, then refused by the gateway
	time.Sleep(100 * time.Millisecond)
	p.shutdown(t)
	assert.Equal(t, sent, gw.items())
}
