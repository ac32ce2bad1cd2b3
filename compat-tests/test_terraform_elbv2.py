"""Terraform AWS provider 5.100 against Kumo's ELBv2: apply, a refresh that plans no change,
destroy — for `aws_lb` (application and network), `aws_lb_target_group`, `aws_lb_listener`,
`aws_lb_listener_rule` and `aws_lb_target_group_attachment`, in a VPC Terraform creates.

Needs terraform and the provider as a filesystem mirror (`KUMO_TF_PLUGINS`, default
/opt/tf-plugins), and EC2's VPC calls; SKIPPED (loudly) without them. The ELBv2 half of this
configuration was checked by hand against a seeded VPC before the VPC calls were served.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import harness

pytestmark = pytest.mark.usefixtures("kumo_server")

PROVIDER = "5.100.0"

CONFIG = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "%(provider)s" }
  }
}
provider "aws" {
  region = "us-east-1"
  endpoints {
    ec2   = "%(url)s"
    elbv2 = "%(url)s"
    sts   = "%(url)s"
    iam   = "%(url)s"
  }
}
data "aws_availability_zones" "all" {}
locals {
  zones = slice(data.aws_availability_zones.all.names, 0, min(2, length(data.aws_availability_zones.all.names)))
}
resource "aws_vpc" "main" {
  cidr_block = "10.43.0.0/16"
}
resource "aws_subnet" "lb" {
  count             = length(local.zones)
  vpc_id            = aws_vpc.main.id
  cidr_block        = "10.43.${count.index}.0/24"
  availability_zone = local.zones[count.index]
}
resource "aws_lb" "alb" {
  name    = "%(prefix)s-alb"
  subnets = aws_subnet.lb[*].id
  idle_timeout = 120
  tags    = { env = "test" }
}
resource "aws_lb" "nlb" {
  name               = "%(prefix)s-nlb"
  load_balancer_type = "network"
  internal           = true
  subnet_mapping {
    subnet_id            = aws_subnet.lb[0].id
    private_ipv4_address = "10.43.0.50"
  }
}
resource "aws_lb_target_group" "web" {
  name     = "%(prefix)s-web"
  port     = 80
  protocol = "HTTP"
  vpc_id   = aws_vpc.main.id
  deregistration_delay = 30
  health_check {
    path    = "/healthz"
    matcher = "200-299"
  }
  stickiness {
    type    = "lb_cookie"
    enabled = true
  }
}
resource "aws_lb_target_group" "ip" {
  name        = "%(prefix)s-ip"
  port        = 8080
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = aws_vpc.main.id
}
resource "aws_lb_target_group" "tcp" {
  name     = "%(prefix)s-tcp"
  port     = 22
  protocol = "TCP"
  vpc_id   = aws_vpc.main.id
}
resource "aws_lb_target_group" "fn" {
  name        = "%(prefix)s-fn"
  target_type = "lambda"
}
resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.alb.arn
  port              = 80
  protocol          = "HTTP"
  default_action {
    type = "forward"
    forward {
      target_group {
        arn    = aws_lb_target_group.web.arn
        weight = 80
      }
      target_group {
        arn    = aws_lb_target_group.ip.arn
        weight = 20
      }
    }
  }
  tags = { kind = "weighted" }
}
resource "aws_lb_listener" "tcp" {
  load_balancer_arn = aws_lb.nlb.arn
  port              = 22
  protocol          = "TCP"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.tcp.arn
  }
}
resource "aws_lb_listener_rule" "api" {
  listener_arn = aws_lb_listener.http.arn
  priority     = 10
  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.ip.arn
  }
  condition {
    path_pattern { values = ["/api/*"] }
  }
  condition {
    http_header {
      http_header_name = "X-Env"
      values           = ["blue"]
    }
  }
}
resource "aws_lb_listener_rule" "fixed" {
  listener_arn = aws_lb_listener.http.arn
  priority     = 20
  action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "gone"
      status_code  = "404"
    }
  }
  condition {
    query_string {
      key   = "old"
      value = "1"
    }
  }
  tags = { rule = "fixed" }
}
resource "aws_lb_listener_rule" "redirect" {
  listener_arn = aws_lb_listener.http.arn
  priority     = 30
  action {
    type = "redirect"
    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
  condition {
    source_ip { values = ["10.0.0.0/8"] }
  }
}
resource "aws_lb_target_group_attachment" "ip" {
  target_group_arn = aws_lb_target_group.ip.arn
  target_id        = "10.43.1.10"
  port             = 8080
}
"""


def _plugins() -> Path:
    root = Path(os.environ.get("KUMO_TF_PLUGINS", "/opt/tf-plugins"))
    if not (root / "registry.terraform.io/hashicorp/aws" / PROVIDER).is_dir():
        print(f"SKIPPED: the AWS provider {PROVIDER} mirror is not at {root}")
        pytest.skip(f"AWS provider {PROVIDER} mirror not at {root}")
    return root


def test_terraform_elbv2_apply_refresh_destroy(http_ep, tmp_path):
    tf = harness.require_tool("terraform")
    plugins = _plugins()
    ec2 = harness.client(http_ep, "ec2")
    try:
        probe = ec2.create_vpc(CidrBlock="10.44.0.0/16")["Vpc"]["VpcId"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "UnsupportedOperation":
            print("SKIPPED: EC2 CreateVpc is not served by this build; the Terraform ELBv2 check needs it")
            pytest.skip("EC2 CreateVpc is not served by this build")
        raise
    ec2.delete_vpc(VpcId=probe)

    (tmp_path / "cli.tfrc").write_text(
        'provider_installation {\n  filesystem_mirror {\n    path = "%s"\n  }\n}\n' % plugins
    )
    prefix = "k" + os.urandom(3).hex()
    (tmp_path / "main.tf").write_text(CONFIG % {"provider": PROVIDER, "url": http_ep.url, "prefix": prefix})
    env = harness.tool_env(tmp_path)
    env.update(
        TF_CLI_CONFIG_FILE=str(tmp_path / "cli.tfrc"),
        CHECKPOINT_DISABLE="1",
        TF_IN_AUTOMATION="1",
        AWS_ACCESS_KEY_ID=http_ep.access_key,
        AWS_SECRET_ACCESS_KEY=http_ep.secret_key,
        AWS_REGION="us-east-1",
    )

    def run(*args: str, ok=(0,), timeout: float = 900) -> subprocess.CompletedProcess:
        cp = subprocess.run([tf, *args, "-no-color", "-input=false"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=timeout)
        assert cp.returncode in ok, f"terraform {' '.join(args)} -> {cp.returncode}\n{cp.stdout[-6000:]}\n{cp.stderr[-6000:]}"
        return cp

    run("init")
    try:
        run("apply", "-auto-approve")
        plan = run("plan", "-detailed-exitcode", ok=(0, 2))
        assert plan.returncode == 0, f"refresh found differences (perpetual diff):\n{plan.stdout[-6000:]}"
    finally:
        run("destroy", "-auto-approve")
    elb = harness.client(http_ep, "elbv2")
    names = {lb["LoadBalancerName"] for lb in elb.describe_load_balancers()["LoadBalancers"]}
    assert not {f"{prefix}-alb", f"{prefix}-nlb"} & names
