package com.acme.shop.model;

import java.io.Serializable;
import javax.persistence.Column;
import javax.persistence.Entity;
import javax.persistence.Id;

@Entity
public class Item implements Serializable {
  @Id
  private long id;
  @Column(nullable = false)
  private String name;

  public long getId() {
    return id;
  }

  public String getName() {
    return name;
  }
}