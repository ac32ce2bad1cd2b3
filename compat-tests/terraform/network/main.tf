# VPC networking on Kumo through the Terraform AWS provider: apply, refresh with an empty plan,
# destroy. Run by compat-tests/test_terraform_network.py, which passes the endpoint and keys.

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

resource "aws_vpc" "main" {
  cidr_block           = "10.42.0.0/16"
  enable_dns_hostnames = true
  tags = {
    Name = var.name
  }
}

resource "aws_subnet" "public" {
  vpc_id                  = aws_vpc.main.id
  cidr_block              = "10.42.1.0/24"
  availability_zone       = "us-east-1a"
  map_public_ip_on_launch = true
  tags = {
    Name = "${var.name}-public"
  }
}

resource "aws_subnet" "private" {
  vpc_id     = aws_vpc.main.id
  cidr_block = "10.42.2.0/24"
  tags = {
    Name = "${var.name}-private"
  }
}

resource "aws_internet_gateway" "gw" {
  vpc_id = aws_vpc.main.id
  tags = {
    Name = var.name
  }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.gw.id
  }

  tags = {
    Name = "${var.name}-public"
  }
}

resource "aws_route_table_association" "public" {
  subnet_id      = aws_subnet.public.id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.main.id
  tags = {
    Name = "${var.name}-private"
  }
}

resource "aws_route" "private_via_gateway" {
  route_table_id         = aws_route_table.private.id
  destination_cidr_block = "192.0.2.0/24"
  gateway_id             = aws_internet_gateway.gw.id
}

resource "aws_route_table_association" "private" {
  subnet_id      = aws_subnet.private.id
  route_table_id = aws_route_table.private.id
}

resource "aws_eip" "ip" {
  domain = "vpc"
  tags = {
    Name = var.name
  }
  depends_on = [aws_internet_gateway.gw]
}

output "vpc_id" {
  value = aws_vpc.main.id
}

output "eip" {
  value = aws_eip.ip.public_ip
}
