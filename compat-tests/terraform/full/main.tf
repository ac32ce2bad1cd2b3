# The configuration of issue 4: one of every resource a Terraform user brings, against Kumo.
# The provider block sets only endpoints, credentials, region and path-style S3 — no skip_* flags.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

variable "endpoint" { type = string }
variable "access_key" { type = string }
variable "secret_key" { type = string }
variable "suffix" { type = string }
variable "public_key" { type = string }

provider "aws" {
  region            = "us-east-1"
  access_key        = var.access_key
  secret_key        = var.secret_key
  s3_use_path_style = true
  endpoints {
    ec2   = var.endpoint
    elbv2 = var.endpoint
    s3    = var.endpoint
    sts   = var.endpoint
    iam   = var.endpoint
  }
}

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_ami" "kumo" {
  most_recent = true
  owners      = ["self", "amazon"]
  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

resource "aws_vpc" "main" {
  cidr_block           = "10.42.0.0/16"
  enable_dns_hostnames = true
  tags                 = { Name = "kumo-tf-${var.suffix}" }
}

resource "aws_subnet" "a" {
  vpc_id                  = aws_vpc.main.id
  cidr_block              = "10.42.1.0/24"
  availability_zone       = data.aws_availability_zones.available.names[0]
  map_public_ip_on_launch = true
  tags                    = { Name = "kumo-tf-a" }
}

resource "aws_subnet" "b" {
  vpc_id            = aws_vpc.main.id
  cidr_block        = "10.42.2.0/24"
  availability_zone = data.aws_availability_zones.available.names[0]
  tags              = { Name = "kumo-tf-b" }
}

resource "aws_internet_gateway" "gw" {
  vpc_id = aws_vpc.main.id
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.gw.id
  }
}

resource "aws_route_table_association" "a" {
  subnet_id      = aws_subnet.a.id
  route_table_id = aws_route_table.public.id
}

resource "aws_security_group" "web" {
  name        = "kumo-tf-web"
  description = "web servers"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_ingress_rule" "http" {
  security_group_id = aws_security_group.web.id
  cidr_ipv4         = "10.0.0.0/8"
  from_port         = 80
  to_port           = 80
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.web.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_key_pair" "deployer" {
  key_name   = "kumo-tf-${var.suffix}"
  public_key = var.public_key
}

resource "aws_instance" "web" {
  ami                    = data.aws_ami.kumo.id
  instance_type          = "t3.micro"
  subnet_id              = aws_subnet.a.id
  vpc_security_group_ids = [aws_security_group.web.id]
  key_name               = aws_key_pair.deployer.key_name
  user_data              = "#!/bin/sh\necho hello from terraform\n"
  root_block_device {
    volume_size = 1
  }
  tags = { Name = "kumo-tf-web" }
}

resource "aws_ebs_volume" "data" {
  availability_zone = aws_subnet.a.availability_zone
  size              = 1
  tags              = { Name = "kumo-tf-data" }
}

resource "aws_volume_attachment" "data" {
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.data.id
  instance_id = aws_instance.web.id
}

resource "aws_eip" "web" {
  domain   = "vpc"
  instance = aws_instance.web.id
}

resource "aws_lb" "web" {
  name               = "kumo-tf-${var.suffix}"
  internal           = true
  load_balancer_type = "application"
  security_groups    = [aws_security_group.web.id]
  # One subnet per zone, as AWS requires; this region has a single zone.
  subnets            = [aws_subnet.a.id]
}

resource "aws_lb_target_group" "web" {
  name     = "kumo-tf-${var.suffix}"
  port     = 80
  protocol = "HTTP"
  vpc_id   = aws_vpc.main.id
}

resource "aws_lb_listener" "web" {
  load_balancer_arn = aws_lb.web.arn
  port              = 80
  protocol          = "HTTP"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }
}

resource "aws_lb_target_group_attachment" "web" {
  target_group_arn = aws_lb_target_group.web.arn
  target_id        = aws_instance.web.id
  port             = 80
}

resource "aws_s3_bucket" "artifacts" {
  bucket = "kumo-tf-${var.suffix}"
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_object" "readme" {
  bucket     = aws_s3_bucket.artifacts.id
  key        = "README.txt"
  content    = "applied by terraform against kumo\n"
  depends_on = [aws_s3_bucket_versioning.artifacts]
}

output "instance_id" { value = aws_instance.web.id }
output "vpc_id" { value = aws_vpc.main.id }
output "bucket" { value = aws_s3_bucket.artifacts.id }
