# Placement groups on Kumo through the Terraform AWS provider: apply, refresh with an empty plan,
# destroy. Run by compat-tests/test_terraform_placement_groups.py, which passes the endpoint and keys.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}

variable "endpoint" {
  type = string
}

variable "access_key" {
  type = string
}

variable "secret_key" {
  type      = string
  sensitive = true
}

variable "name" {
  type    = string
  default = "kumo-tf-network"
}

provider "aws" {
  region            = "us-east-1"
  access_key        = var.access_key
  secret_key        = var.secret_key
  s3_use_path_style = true

  endpoints {
    ec2 = var.endpoint
    sts = var.endpoint
    iam = var.endpoint
    s3  = var.endpoint
  }
}

resource "aws_placement_group" "spread" {
  name     = "${var.name}-spread"
  strategy = "spread"
  tags = {
    Name = var.name
  }
}

resource "aws_placement_group" "partition" {
  name            = "${var.name}-partition"
  strategy        = "partition"
  partition_count = 3
}

resource "aws_placement_group" "cluster" {
  name     = "${var.name}-cluster"
  strategy = "cluster"
}
