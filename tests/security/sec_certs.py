# SPDX-License-Identifier: Apache-2.0
"""Test PKI made with the openssl CLI: CAs, broker and store certificates (EC P-256, fast to
make), including an expired one (openssl ca with explicit dates)."""

import os
import subprocess

OPENSSL = "openssl"


def _run(args, cwd):
    res = subprocess.run([OPENSSL] + args, cwd=cwd, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), res.stderr.strip()))
    return res


class Pki:
    """Certificates in DIR. Every method returns paths (PEM)."""

    def __init__(self, dir):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def key(self, name):
        out = self.path(name + ".key")
        _run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-out", out], self.dir)
        os.chmod(out, 0o600)
        return out

    def ca(self, name, cn):
        key = self.key(name)
        crt = self.path(name + ".pem")
        _run(["req", "-x509", "-new", "-key", key, "-out", crt, "-days", "30", "-subj",
              "/CN=%s" % cn, "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], self.dir)
        # openssl ca's database, for certificates with chosen dates.
        cadir = self.path(name + ".db")
        os.makedirs(cadir, exist_ok=True)
        open(os.path.join(cadir, "index.txt"), "w").close()
        with open(os.path.join(cadir, "serial"), "w") as f:
            f.write("1000\n")
        return {"name": name, "key": key, "crt": crt, "db": cadir}

    def leaf(self, ca, name, cn, san=None, server=False, start=None, end=None):
        """A certificate for NAME signed by CA. SAN like "IP:127.0.0.1,DNS:localhost".
        START/END (YYYYMMDDHHMMSSZ) make it valid only then (for an expired one)."""
        key = self.key(name)
        csr = self.path(name + ".csr")
        crt = self.path(name + ".pem")
        _run(["req", "-new", "-key", key, "-out", csr, "-subj", "/CN=%s" % cn], self.dir)
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            f.write("keyUsage=critical,digitalSignature\n")
            f.write("extendedKeyUsage=%s\n" % ("serverAuth" if server else "clientAuth"))
            if san:
                f.write("subjectAltName=%s\n" % san)
        conf = self.path(name + ".ca.cnf")
        with open(conf, "w") as f:
            f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\nserial=%s/serial\n"
                    "new_certs_dir=%s\ndefault_md=sha256\npolicy=p\nunique_subject=no\n"
                    "copy_extensions=none\n[p]\ncommonName=supplied\n"
                    % (ca["db"], ca["db"], ca["db"]))
        args = ["ca", "-batch", "-config", conf, "-cert", ca["crt"], "-keyfile", ca["key"],
                "-in", csr, "-out", crt, "-extfile", ext, "-notext"]
        if start and end:
            args += ["-startdate", start, "-enddate", end]
        else:
            args += ["-days", "30"]
        _run(args, self.dir)
        return {"key": key, "crt": crt}
