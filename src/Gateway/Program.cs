return await Gateway.Hosting.GatewayHost.RunAsync(args);
