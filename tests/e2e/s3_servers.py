"""Real S3 servers on loopback for the end-to-end tests: S3Proxy and moto's
server, started by tools/s3-local, and a boto3 client (an implementation we
did not write) to check what our executables put there.

Servers are named <NBK_E2E_SERVER_PREFIX>-s3proxy / -moto and kept running
with NBK_KEEP_SERVERS=1, like the Neo4j servers of conftest.py."""

import os
import subprocess

from neo4j_servers import REPO_ROOT

S3_LOCAL = REPO_ROOT / "tools" / "s3-local"
S3_KINDS = ("s3proxy", "moto")


class S3Server:
    def __init__(self, kind, name, access):
        import boto3
        from botocore.config import Config

        self.kind = kind
        self.name = name
        self.endpoint = access["endpoint"]
        self.bucket = access["bucket"]
        self.access_key = access["access_key"]
        self.secret_key = access["secret_key"]
        self.client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                                   aws_secret_access_key=self.secret_key, region_name="us-east-1",
                                   config=Config(s3={"addressing_style": "path"}))

    def get(self, key):
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def exists(self, key):
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def keys(self, prefix):
        """Every key below prefix/ (all pages)."""
        keys = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix + "/"):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def uploads(self, prefix):
        answer = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        return answer.get("Uploads", [])

    def environment(self, prefix):
        """What an operator sets for s3://bucket/prefix on this server."""
        return {"BACKUP_STORAGE_PATH": f"s3://{self.bucket}/{prefix}", "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_REGION": "us-east-1", "BACKUP_S3_URI_STYLE": "path"}


def start_s3_server(kind, prefix):
    name = f"{prefix}-{kind}"
    started = subprocess.run([str(S3_LOCAL), "start", name, "--kind", kind], capture_output=True, text=True,
                             timeout=600)
    if started.returncode != 0:
        raise RuntimeError(f"tools/s3-local start {name} failed: {started.stderr}")
    access = dict(line.split("=", 1) for line in started.stdout.split())
    return S3Server(kind, name, access)


def stop_s3_server(server):
    if os.environ.get("NBK_KEEP_SERVERS", "0") != "1":
        subprocess.run([str(S3_LOCAL), "stop", server.name], capture_output=True, timeout=120)
