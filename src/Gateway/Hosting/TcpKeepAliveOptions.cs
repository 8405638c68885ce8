using System.ComponentModel.DataAnnotations;
using System.Net.Sockets;

namespace Gateway.Hosting;

/// <summary>TCP keepalive for long-lived sockets: finds peers that vanished without a FIN or RST.</summary>
public sealed class TcpKeepAliveOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Idle time before the first probe.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan Time { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Time between unanswered probes.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Unanswered probes before the kernel drops the connection.</summary>
    [Range(1, 127)]
    public int RetryCount { get; set; } = 6;

    internal void Apply(Socket socket)
    {
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, Enabled);
        if (!Enabled)
        {
            return;
        }

        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)Time.TotalSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)Interval.TotalSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, RetryCount);
    }
}
