#!/usr/bin/env bash
# Worker bootstrap (run once as root on the existing EC2 worker, e.g. from user data):
# installs the bak2pg agent, the user it runs as, the work and backup folders, and the RDS
# CA bundle for TLS to PostgreSQL. The SSM agent is preinstalled on Amazon Linux 2023 and
# Ubuntu AMIs; this script only checks that it runs.
#
#   BAK2PG_BINARY=/path/to/bak2pg ./bootstrap.sh        # a binary built for this machine
#   BAK2PG_BINARY_S3=s3://bucket/bin/bak2pg ./bootstrap.sh  # or fetched with the AWS CLI
#
# Layout:
#   /usr/local/bin/bak2pg          the agent (`bak2pg step …` is what SSM runs)
#   /var/lib/bak2pg/work           one folder per execution (bak2pg:mssql, setgid, 2770)
#   /var/lib/bak2pg/work/.slots    lock files: at most `worker/slots` heavy steps at once
#   /var/opt/mssql/backup          backup folder owned by mssql (the sqlserver engine RESTOREs from it)
#   /etc/bak2pg/rds-global-bundle.pem   CA bundle for sslmode=verify-full against RDS
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "bootstrap.sh: run as root" >&2; exit 1; }

install_binary() {
    if [ -n "${BAK2PG_BINARY:-}" ]; then
        install -m 0755 "$BAK2PG_BINARY" /usr/local/bin/bak2pg
    elif [ -n "${BAK2PG_BINARY_S3:-}" ]; then
        aws s3 cp "$BAK2PG_BINARY_S3" /tmp/bak2pg.new
        install -m 0755 /tmp/bak2pg.new /usr/local/bin/bak2pg
        rm -f /tmp/bak2pg.new
    else
        echo "bootstrap.sh: set BAK2PG_BINARY or BAK2PG_BINARY_S3" >&2
        exit 1
    fi
    /usr/local/bin/bak2pg --version
}

# Users: mssql owns the backup folder (as SQL Server's package creates it); bak2pg runs the
# steps and is in group mssql so extracted backups are readable by SQL Server.
getent group mssql >/dev/null || groupadd --system mssql
id mssql >/dev/null 2>&1 || useradd --system --gid mssql --home-dir /var/opt/mssql --shell /usr/sbin/nologin mssql
id bak2pg >/dev/null 2>&1 || useradd --system --gid mssql --home-dir /var/lib/bak2pg --shell /usr/sbin/nologin bak2pg

install -d -o bak2pg -g mssql -m 2770 /var/lib/bak2pg /var/lib/bak2pg/work /var/lib/bak2pg/work/.slots /var/lib/bak2pg/work/.running
install -d -o mssql -g mssql -m 2770 /var/opt/mssql /var/opt/mssql/backup
install -d -o root -g root -m 0755 /etc/bak2pg

install_binary

# RDS certificate bundle (all regions), for pg/sslmode=verify-full with pg/ca-file. Without
# it every verify-full connection fails, so its absence stops the bootstrap.
if ! command -v curl >/dev/null; then
    echo "bootstrap.sh: curl is needed to fetch the RDS CA bundle (apt-get install curl / dnf install curl)" >&2
    exit 1
fi
curl -fsSL -o /etc/bak2pg/rds-global-bundle.pem.new https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
grep -q "BEGIN CERTIFICATE" /etc/bak2pg/rds-global-bundle.pem.new || {
    echo "bootstrap.sh: the RDS CA bundle downloaded is not PEM" >&2
    exit 1
}
mv /etc/bak2pg/rds-global-bundle.pem.new /etc/bak2pg/rds-global-bundle.pem
chmod 0644 /etc/bak2pg/rds-global-bundle.pem

# The SSM agent must run for Run Command to reach this instance.
if systemctl list-unit-files | grep -q '^amazon-ssm-agent'; then
    systemctl enable --now amazon-ssm-agent
elif systemctl list-unit-files | grep -q 'snap.amazon-ssm-agent'; then
    systemctl enable --now snap.amazon-ssm-agent.amazon-ssm-agent.service
else
    echo "bootstrap.sh: no amazon-ssm-agent unit found; install the SSM agent" >&2
    exit 1
fi
echo "bootstrap.sh: worker ready (work root /var/lib/bak2pg/work)"
